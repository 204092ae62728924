package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/authconnection/terraform-provider-tailor"

// TestImportsFollowTheArchitecture compares the imports between the module's own packages
// (without tests) with the table "Imports" of docs/architecture.md, so the map stays true:
// a new arrow must be added to the table, and a package missing from it is an error.
func TestImportsFollowTheArchitecture(t *testing.T) {
	allowed := allowedImports(t)
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := rel(f[0])
		may, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s is not in the Imports table of docs/architecture.md: add it with what it may import", pkg)
			continue
		}
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, module) && !slices.Contains(may, rel(imp)) {
				t.Errorf("%s imports %s, which docs/architecture.md does not allow", pkg, rel(imp))
			}
		}
	}
}

func rel(p string) string {
	if p == module {
		return "."
	}
	return strings.TrimPrefix(p, module+"/")
}

var cellRE = regexp.MustCompile("`([^`]+)`")

// allowedImports reads the Imports table of docs/architecture.md.
func allowedImports(t *testing.T) map[string][]string {
	b, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "## Imports")
	if !ok {
		t.Fatal("docs/architecture.md has no Imports section")
	}
	out := map[string][]string{}
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.Contains(cells[1], "`") {
			continue
		}
		pkg := cellRE.FindStringSubmatch(cells[1])[1]
		var may []string
		for _, m := range cellRE.FindAllStringSubmatch(cells[2], -1) {
			may = append(may, m[1])
		}
		out[pkg] = may
	}
	if len(out) < 10 {
		t.Fatalf("the Imports table of docs/architecture.md has only %d rows", len(out))
	}
	return out
}

var testNameRE = regexp.MustCompile(`\b((?:[a-z]+\.)?Test[A-Z][A-Za-z0-9_]*)\b`)

// TestSecurityDocNamesRealTests checks that every test docs/security.md cites for a "cannot"
// of the role matrix or a finding of the attack suite exists (as `pkg.TestName` or
// `TestName`), so that a renamed or deleted test fails here instead of leaving a cell that
// nothing holds.
func TestSecurityDocNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile("docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "grep", "-h", "-o", "-E", `^func Test[A-Za-z0-9_]+`, "--", "*_test.go").Output()
	if err != nil {
		t.Fatalf("git grep: %v", err)
	}
	defined := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		defined[strings.TrimPrefix(l, "func ")] = true
	}
	cited := 0
	for _, loc := range testNameRE.FindAllStringSubmatchIndex(string(doc), -1) {
		if loc[0] > 0 && strings.ContainsRune("'|^", rune(doc[loc[0]-1])) {
			continue // part of a -run pattern, not a test's name
		}
		m := []string{"", string(doc[loc[2]:loc[3]])}
		name := m[1]
		if _, after, ok := strings.Cut(name, "."); ok {
			name = after
		}
		cited++
		if !defined[name] {
			t.Errorf("docs/security.md cites %s, but no test function %s exists", m[1], name)
		}
	}
	if cited < 10 {
		t.Errorf("docs/security.md cites only %d tests", cited)
	}
}

// TestArchitectureNamesRealIdentifiers checks that every Go identifier docs/architecture.md
// names in its package table and its data paths exists in the code, so that a renamed or
// removed function fails here together with the prose that describes it.
//
// Extraction rule. The text checked is docs/architecture.md before its "## Imports" heading
// (the package table and every data path), and only two kinds of it: spans in backticks
// (`...`) and the lines of fenced blocks (the diagrams). In that text every dotted name
// A.B or A.B.C (identifiers joined by dots, not part of a longer path: no "/" or "." right
// before A) is checked:
//   - A is a package of this module, by its directory's last element (broker, store, oauth,
//     api, tokend, client for tokend/client, ...): A.B must be a top-level func, type, var
//     or const of that package, and A.B.C a method of its type B (value or pointer
//     receiver), a method of its interface type B, or a field of its struct type B. So
//     `broker.Token` is refused where the code has only the method `broker.Broker.Token`.
//   - A is no package but starts with an upper-case letter, or is the name of a type
//     declared in the module (keyCache, serveFlags): A.B must be a method, interface method
//     or struct field B of a type named A in some package of the module.
//   - Anything else is not checked: a lower-case A that is neither a package nor a type (a
//     variable, "e.g", a JavaScript global), and a file name such as serve.go (B a file
//     extension). Event types such as connection.deleted are written as their constants
//     (authconn.EventDeleted) in checked text, or outside backticks.
//
// The declarations come from one parse (go/parser, go/ast) of every non-test Go file of the
// module, tools/ and other nested modules excluded.
func TestArchitectureNamesRealIdentifiers(t *testing.T) {
	b, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	doc, _, ok := strings.Cut(string(b), "## Imports")
	if !ok {
		t.Fatal("docs/architecture.md has no Imports section")
	}
	decls := parseDecls(t, ".")
	checked, seen := 0, map[string]bool{}
	for _, name := range docNames(doc) {
		if seen[name] {
			continue
		}
		seen[name] = true
		parts := strings.Split(name, ".")
		pkg, isPkg := decls.pkgs[parts[0]]
		switch {
		case isPkg && len(parts) == 2:
			checked++
			if !pkg.top[parts[1]] {
				t.Errorf("docs/architecture.md names %s, but package %s has no top-level %s (a method is written pkg.Type.Method)", name, parts[0], parts[1])
			}
		case isPkg && len(parts) == 3:
			checked++
			if !pkg.members[parts[1]+"."+parts[2]] {
				t.Errorf("docs/architecture.md names %s, but package %s has no type %s with a method or field %s", name, parts[0], parts[1], parts[2])
			}
		case !isPkg && len(parts) == 2 && (decls.types[parts[0]] || parts[0][0] >= 'A' && parts[0][0] <= 'Z'):
			checked++
			if !decls.anyMember[parts[0]+"."+parts[1]] {
				t.Errorf("docs/architecture.md names %s, but no type %s in the module has a method or field %s", name, parts[0], parts[1])
			}
		}
	}
	t.Logf("checked %d names of docs/architecture.md", checked)
	if checked < 40 {
		t.Errorf("docs/architecture.md names only %d identifiers that could be checked: is the extraction rule broken?", checked)
	}
}

var (
	codeSpanRE  = regexp.MustCompile("`([^`\n]+)`")
	dottedRE    = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*){1,2}`)
	fileExtRE   = regexp.MustCompile(`\.(go|mod|sum|md|mjs|js|sh|json|ya?ml|hcl|tf|service)$`)
	identCharRE = regexp.MustCompile(`[A-Za-z0-9_./]`)
)

// docNames returns the dotted names in the backtick spans and fenced blocks of doc, in
// order, by the rule of TestArchitectureNamesRealIdentifiers.
func docNames(doc string) []string {
	var texts []string
	fenced := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			texts = append(texts, line)
			continue
		}
		for _, m := range codeSpanRE.FindAllStringSubmatch(line, -1) {
			texts = append(texts, m[1])
		}
	}
	var names []string
	for _, text := range texts {
		for _, loc := range dottedRE.FindAllStringIndex(text, -1) {
			if loc[0] > 0 && identCharRE.MatchString(text[loc[0]-1:loc[0]]) {
				continue // the tail of a path (internal/store, tailor/changes)
			}
			if loc[1] < len(text) && strings.ContainsRune("/", rune(text[loc[1]])) {
				continue // the head of a path
			}
			name := text[loc[0]:loc[1]]
			if fileExtRE.MatchString(name) {
				continue // a file name
			}
			names = append(names, name)
		}
	}
	return names
}

// pkgDecls are the declarations of the packages in directories with one last element.
type pkgDecls struct {
	top     map[string]bool // funcs, types, vars, consts
	members map[string]bool // "Type.Method" and "Type.Field"
}

type moduleDecls struct {
	pkgs      map[string]*pkgDecls // by the directory's last element
	types     map[string]bool      // type names in any package
	anyMember map[string]bool      // "Type.Member" in any package
}

// parseDecls parses every non-test Go file under root (once) and collects its declarations.
func parseDecls(t *testing.T, root string) moduleDecls {
	md := moduleDecls{pkgs: map[string]*pkgDecls{}, types: map[string]bool{}, anyMember: map[string]bool{}}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "bin") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); p != root && err == nil {
				return filepath.SkipDir // another module (tools/...)
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		dir := filepath.Base(filepath.Dir(p))
		if filepath.Dir(p) == root {
			dir = "." // the module root: not addressable by a name
		}
		pd := md.pkgs[dir]
		if pd == nil {
			pd = &pkgDecls{top: map[string]bool{}, members: map[string]bool{}}
			md.pkgs[dir] = pd
		}
		addDecls(f, pd, md)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	delete(md.pkgs, ".")
	return md
}

// addDecls adds the top-level declarations of f, and the methods and fields of its types,
// to pd (its package) and md (the whole module).
func addDecls(f *ast.File, pd *pkgDecls, md moduleDecls) {
	member := func(typ, name string) {
		pd.members[typ+"."+name] = true
		md.anyMember[typ+"."+name] = true
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil || len(d.Recv.List) == 0 {
				pd.top[d.Name.Name] = true
				continue
			}
			if typ := receiverType(d.Recv.List[0].Type); typ != "" {
				member(typ, d.Name.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.ValueSpec:
					for _, n := range s.Names {
						pd.top[n.Name] = true
					}
				case *ast.TypeSpec:
					pd.top[s.Name.Name] = true
					md.types[s.Name.Name] = true
					var fields *ast.FieldList
					switch tt := s.Type.(type) {
					case *ast.StructType:
						fields = tt.Fields
					case *ast.InterfaceType:
						fields = tt.Methods
					}
					if fields == nil {
						continue
					}
					for _, fl := range fields.List {
						for _, n := range fl.Names {
							member(s.Name.Name, n.Name)
						}
						if len(fl.Names) == 0 { // embedded: promoted by its type's name
							if typ := receiverType(fl.Type); typ != "" {
								member(s.Name.Name, typ)
							}
						}
					}
				}
			}
		}
	}
}

// receiverType returns the name of the type of a receiver (or embedded field) expression:
// T, *T, T[P], *T[P], pkg.T.
func receiverType(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.SelectorExpr:
			return x.Sel.Name
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

// TestNoProviderNameInCode holds the catalog's bar: a provider is data. No production Go file
// outside internal/catalog compares or builds on a provider's name: a string literal equal to
// the name of a catalog entry (internal/catalog/providers/NAME.json) fails the test, comments
// aside. The generic entry is named by catalog.GenericName. Test support (internal/testenv,
// whose imitations are named after their providers) and the demo are exempt.
func TestNoProviderNameInCode(t *testing.T) {
	entries, err := filepath.Glob("internal/catalog/providers/*.json")
	if err != nil || len(entries) < 30 {
		t.Fatalf("the catalog has %d entries (%v); want at least 30", len(entries), err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[strings.TrimSuffix(filepath.Base(e), ".json")] = true
	}
	delete(names, "oidc") // catalog.GenericName; also a tool's name in internal/testenv
	exempt := []string{"internal/catalog/", "internal/testenv/", "examples/", ".git/", "tools/"}
	fset := token.NewFileSet()
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		for _, e := range exempt {
			if strings.HasPrefix(path, e) {
				return nil
			}
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && names[strings.Trim(lit.Value, "`\"")] {
				t.Errorf("%s: the provider name %s in code; express the quirk in its catalog entry instead", fset.Position(lit.Pos()), lit.Value)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
