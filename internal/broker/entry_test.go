package broker

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEntryFieldsTouchedOnlyInEntryGo keeps entry's state in one home: no non-test file of the
// package but entry.go selects a field of entry (e.mu included). The other files call the
// methods in entry.go, whose names state the rule. The package is type-checked from source
// with its imports left unresolved, which is enough to know which selectors are on an entry.
func TestEntryFieldsTouchedOnlyInEntryGo(t *testing.T) {
	fset := token.NewFileSet()
	files := parsePackage(t, fset)
	info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}}
	conf := types.Config{Importer: noImports{}, Error: func(error) {}}
	pkg, _ := conf.Check("broker", fset, files, info)
	entryType := pkg.Scope().Lookup("entry").Type()
	seen := map[string]bool{}
	for sel, s := range info.Selections {
		recv := s.Recv()
		if p, ok := recv.(*types.Pointer); ok {
			recv = p.Elem()
		}
		if s.Kind() != types.FieldVal || !types.Identical(recv, entryType) {
			continue
		}
		pos := fset.Position(sel.Sel.Pos())
		if filepath.Base(pos.Filename) != "entry.go" {
			t.Errorf("%s: field %s of entry used outside entry.go: add (or use) a method of *entry in entry.go that states the rule", pos, sel.Sel.Name)
		}
		seen[sel.Sel.Name] = true
	}
	// The check itself works: every field is found where it is used.
	st := entryType.Underlying().(*types.Struct)
	for i := range st.NumFields() {
		if f := st.Field(i).Name(); !seen[f] {
			t.Errorf("no use of entry.%s found: the type check no longer sees the package", f)
		}
	}
}

// parsePackage parses the package's non-test files.
func parsePackage(t *testing.T, fset *token.FileSet) []*ast.File {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		src, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, n, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// noImports resolves no import: go/types then treats each as a fake package, and still types
// everything declared in the package itself.
type noImports struct{}

func (noImports) Import(string) (*types.Package, error) { return nil, errors.New("not resolved") }
