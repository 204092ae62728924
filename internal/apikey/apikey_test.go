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
