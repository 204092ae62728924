package store_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// TestRoleMatrixVault holds the Vault part of the role matrix of docs/security.md: for every
// record (row) and every role (column) it tries each operation with a token that holds exactly
// that role's documented policy (the HCL blocks of docs/vault-layout.md, as an operator would
// paste them) against a real Vault, and compares what Vault allowed with the cell. A cell
// lists the operations the role may do: r (read the record's data), c (create it where it does
// not exist), u (write a new version of an existing one); "-" is none. Every letter missing
// from a cell is an attempt that must be refused with 403.
func TestRoleMatrixVault(t *testing.T) {
	t.Parallel()
	matrix := readVaultMatrix(t)
	v := testenv.StartVault(t)
	for _, role := range matrix.roles {
		t.Run(role, func(t *testing.T) {
			seeded, empty := "rm-"+role, "rm-empty-"+role
			seedRoleMatrix(t, v, seeded)
			c := roleClient(t, v, role, seeded, empty)
			for _, row := range matrix.rows {
				allowed := row.cells[role]
				for _, op := range []string{"r", "c", "u"} {
					prefix := seeded
					if op == "c" {
						prefix = empty
					}
					err := tryOp(c, op, "secret/data/"+prefix+"/"+row.path)
					refused := isForbidden(err)
					if want := strings.Contains(allowed, op); want == refused {
						t.Errorf("%s %s on %s: refused=%v, but docs/security.md says %q (err: %v)", role, op, row.path, refused, allowed, err)
					}
				}
			}
		})
	}
}

type vaultMatrix struct {
	roles []string
	rows  []matrixRow
}

type matrixRow struct {
	path  string
	cells map[string]string
}

// readVaultMatrix reads the table after <!-- matrix:vault --> in docs/security.md.
func readVaultMatrix(t *testing.T) vaultMatrix {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- matrix:vault -->\n")
	if !ok {
		t.Fatal("docs/security.md has no <!-- matrix:vault --> table")
	}
	var m vaultMatrix
	for i, line := range strings.Split(rest, "\n") {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for j := range cells {
			cells[j] = strings.Trim(strings.TrimSpace(cells[j]), "`")
		}
		switch i {
		case 0:
			m.roles = cells[1:]
		case 1: // the |---| line
		default:
			r := matrixRow{path: cells[0], cells: map[string]string{}}
			for j, role := range m.roles {
				r.cells[role] = cells[j+1]
			}
			m.rows = append(m.rows, r)
		}
	}
	if len(m.roles) < 3 || len(m.rows) < 8 {
		t.Fatalf("docs/security.md's Vault matrix is too small: %d roles, %d rows", len(m.roles), len(m.rows))
	}
	return m
}

// seedRoleMatrix writes one record at every path of the matrix (as root), so that "u" probes an
// update; "c" probes the same paths under a prefix where nothing exists.
func seedRoleMatrix(t *testing.T, v *testenv.Vault, prefix string) {
	t.Helper()
	for _, p := range []string{"connections/rm/config", "connections/rm/client-secret", "connections/rm/client-assertion-key",
		"connections/rm/tokens", "connections/rm/refresh-lease", "connections/rm/account", "api-keys/rmkey", "pending/rmhash", "links/rmlink",
		"webhooks/rmhook", "events/rmevent", "changes", "ui/session-key", "ui/sessions/rmkey"} {
		if _, err := v.Client().Logical().Write("secret/data/"+prefix+"/"+p, map[string]any{"data": map[string]any{"seed": "x"}}); err != nil {
			t.Fatalf("seeding %s: %v", p, err)
		}
	}
}

// roleClient returns a Vault client whose token holds only role's documented policy, for
// each of the prefixes.
func roleClient(t *testing.T, v *testenv.Vault, role string, prefixes ...string) *vault.Client {
	t.Helper()
	var hcl []string
	for _, block := range strings.Split(role, "+") {
		for _, prefix := range prefixes {
			hcl = append(hcl, testenv.DocPolicy(t, block, prefix))
		}
	}
	name := "rm-" + strings.ReplaceAll(role, "+", "-")
	if err := v.Client().Sys().PutPolicy(name, strings.Join(hcl, "\n")); err != nil {
		t.Fatal(err)
	}
	sec, err := v.Client().Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{name}, NoDefaultPolicy: true, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Client().Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(sec.Auth.ClientToken)
	return c
}

func tryOp(c *vault.Client, op, path string) error {
	switch op {
	case "r":
		_, err := c.Logical().Read(path)
		return err
	case "c", "u":
		_, err := c.Logical().Write(path, map[string]any{"data": map[string]any{"probe": "role-matrix"}})
		return err
	}
	return fmt.Errorf("unknown operation %q", op)
}

func isForbidden(err error) bool {
	var re *vault.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}
