package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoPackageState keeps tokend wiring without hidden state: its non-test files declare no
// func init, and every package-level var is constant-like. The rule: a package-level var
// has an initial value (or is set by the linker, like version, which then also has one)
// and is never written in the package: not assigned, incremented, or assigned through an
// index, field or pointer, and its address is never taken. Errors made with errors.New
// and the version string pass; registries, flag values and test hooks do not: the root
// command builds those and hands them to each command's constructor.
func TestNoPackageState(t *testing.T) {
	files := parseNonTest(t)
	vars := map[string]bool{} // names of package-level vars
	specs := map[any]bool{}   // their declarations, to which same-file uses resolve
	for name, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.Name == "init" {
					t.Errorf("%s: func init: register commands by calling their constructor in newRootCmdWith", name)
				}
			case *ast.GenDecl:
				if d.Tok != token.VAR {
					continue
				}
				for _, sp := range d.Specs {
					vs := sp.(*ast.ValueSpec)
					specs[vs] = true
					for _, id := range vs.Names {
						vars[id.Name] = true
						if len(vs.Values) == 0 {
							t.Errorf("%s: package-level var %s has no initial value: it is state; pass it to the constructors that need it", name, id.Name)
						}
					}
				}
			}
		}
	}
	for name, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			var targets []ast.Expr
			switch n := n.(type) {
			case *ast.AssignStmt:
				if n.Tok != token.DEFINE {
					targets = n.Lhs
				}
			case *ast.IncDecStmt:
				targets = []ast.Expr{n.X}
			case *ast.UnaryExpr:
				if n.Op == token.AND {
					targets = []ast.Expr{n.X}
				}
			}
			for _, e := range targets {
				id := rootIdent(e)
				if id == nil {
					continue
				}
				// Unresolved: declared in another file of the package; resolved: local unless
				// its declaration is a package-level one.
				if (id.Obj == nil && vars[id.Name]) || (id.Obj != nil && specs[id.Obj.Decl]) {
					t.Errorf("%s: package-level var %s is written at run time: it is state", name, id.Name)
				}
			}
			return true
		})
	}
}

// parseNonTest parses tokend's non-test files, by file name.
func parseNonTest(t *testing.T) map[string]*ast.File {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	out := map[string]*ast.File{}
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = f
	}
	if len(out) < 5 {
		t.Fatalf("found only %d non-test files of tokend", len(out))
	}
	return out
}

// rootIdent returns the variable an expression writes to: x in x, x[i], x.f, *x; nil for
// anything else.
func rootIdent(e ast.Expr) *ast.Ident {
	for {
		switch x := e.(type) {
		case *ast.Ident:
			return x
		case *ast.IndexExpr:
			e = x.X
		case *ast.SelectorExpr:
			e = x.X
		case *ast.StarExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		default:
			return nil
		}
	}
}
