package authconn_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// TestJavaScriptNameRuleIsTheGoRule runs the JavaScript client's validName over edge cases
// and random strings and compares every answer with ValidateName, so the two rules cannot
// drift apart.
func TestJavaScriptNameRuleIsTheGoRule(t *testing.T) {
	node := testenv.Binary(t, "node")
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"a", "google-oauth", "a-b", "-a", "a-", "A", "a_b", "a.b", "a b", "é", "a\n", "0", "9-9",
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("-", 3), ""}
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcz09-_A.é "
	for range 3000 {
		var b strings.Builder
		for range r.IntN(70) {
			b.WriteString(string([]rune(alphabet)[r.IntN(len([]rune(alphabet)))]))
		}
		names = append(names, b.String())
	}
	in, _ := json.Marshal(names)
	client := filepath.Join(root, "functions", "js", "client.mjs")
	script := `import { validName, NAME_PATTERN } from ` + strconvQuote("file://"+client) + `;
let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () =>
  process.stdout.write(JSON.stringify({ pattern: NAME_PATTERN, valid: JSON.parse(s).map(validName) })));`
	cmd := exec.Command(node, "--input-type=module", "-e", script)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got struct {
		Pattern string `json:"pattern"`
		Valid   []bool `json:"valid"`
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got.Valid) != len(names) {
		t.Fatalf("node answered %q: %v", out, err)
	}
	if got.Pattern != authconn.NamePattern {
		t.Errorf("NAME_PATTERN %q differs from authconn.NamePattern %q", got.Pattern, authconn.NamePattern)
	}
	mismatches := 0
	for i, n := range names {
		if goOK := authconn.ValidateName(n) == nil; goOK != got.Valid[i] && mismatches < 10 {
			mismatches++
			t.Errorf("name %q: Go accepts=%v, JavaScript accepts=%v", n, goOK, got.Valid[i])
		}
	}
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }
