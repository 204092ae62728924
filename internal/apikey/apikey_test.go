package apikey

import (
	"strings"
	"testing"
)

func TestGenerateParseVerify(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.Plain, "tk_"+k.ID+"_") {
		t.Fatalf("key %q does not start with tk_<id>_", k.Plain)
	}
	id, secret, err := Parse(k.Plain)
	if err != nil || id != k.ID {
		t.Fatalf("Parse = %q, %v", id, err)
	}
	if !Verify(secret, k.Hash) {
		t.Fatal("Verify(secret, hash) = false")
	}
	if Verify(secret+"x", k.Hash) || Verify(secret, "zz") || Verify(secret, "") {
		t.Fatal("Verify accepted a wrong secret or hash")
	}
	if strings.Contains(k.String(), k.Plain) || strings.Contains(k.GoString(), k.Plain) {
		t.Fatal("String shows the key")
	}
	k2, _ := Generate()
	if k2.ID == k.ID || k2.Plain == k.Plain {
		t.Fatal("two keys are equal")
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{"", "tk_", "tk_abc_def", "xx_abcdefgh_0123456789abcdefghij", "tk_ABCDEFGH_0123456789abcdefghij", "tk_abcdefgh", "Bearer tk_abcdefgh_0123456789abcdefghij"} {
		if _, _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
	if _, sec, err := Parse("tk_abcdefgh_0123456789abc_efghij"); err != nil || sec != "0123456789abc_efghij" {
		t.Errorf("secret with underscore: %q %v", sec, err)
	}
}

func TestPatterns(t *testing.T) {
	ps, err := ParsePatterns("google-*, ms365-oauth,")
	if err != nil || len(ps) != 2 {
		t.Fatalf("ParsePatterns = %v, %v", ps, err)
	}
	for name, want := range map[string]bool{"google-oauth": true, "google-": true, "ms365-oauth": true, "ms365-oauth-dev": false, "quickbooks": false} {
		if got := Allows(ps, name); got != want {
			t.Errorf("Allows(%q) = %v", name, got)
		}
	}
	for _, bad := range []string{"", " , ", "a/b", "[", "a b"} {
		if _, err := ParsePatterns(bad); err == nil {
			t.Errorf("ParsePatterns(%q) accepted", bad)
		}
	}
	if !Allows([]string{"*"}, "anything") {
		t.Error("* does not match")
	}
}

// TestVerifyAnySecretLength: Verify hashes short secrets from a stack copy and long ones
// directly; both agree with HashSecret, and a secret differing in its last byte fails.
func TestVerifyAnySecretLength(t *testing.T) {
	for _, n := range []int{1, 43, 64, 65, 200} {
		secret := strings.Repeat("s", n)
		if !Verify(secret, HashSecret(secret)) {
			t.Errorf("Verify of a %d-byte secret against its own hash = false", n)
		}
		if Verify(secret[:n-1]+"t", HashSecret(secret)) {
			t.Errorf("Verify accepted a %d-byte secret with another last byte", n)
		}
	}
}
