package main

import (
	"os"
	"os/exec"
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
