package secretfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadPolicy: the secret is the file's content without surrounding white space; a file
// others may read draws a warning; a directory, an empty file and a file over the limit are
// refused, and no error or warning holds the secret.
func TestReadPolicy(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var warn bytes.Buffer
	if s, err := Read(&warn, write("private", " s3cret-value\n", 0o600), 64); err != nil || s != "s3cret-value" || warn.Len() != 0 {
		t.Errorf("mode 600: %q, %v, warning %q", s, err, warn.String())
	}
	if s, err := Read(&warn, write("shared", "s3cret-value", 0o644), 64); err != nil || s != "s3cret-value" || !strings.Contains(warn.String(), "chmod 600") {
		t.Errorf("mode 644: %q, %v, warning %q", s, err, warn.String())
	}
	for name, path := range map[string]string{
		"a directory": dir,
		"empty":       write("empty", " \n", 0o600),
		"too long":    write("long", "s3cret-value"+strings.Repeat("x", 64), 0o600),
	} {
		_, err := Read(&warn, path, 64)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error holds the secret: %v", name, err)
		}
	}
	if strings.Contains(warn.String(), "s3cret") {
		t.Errorf("a warning holds the secret: %q", warn.String())
	}
}
