package testenv

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// Secret is a value that must not appear in an artifact, and the kind an error names it
// by ("refresh token"): errors never quote the value.
type Secret struct {
	Kind, Value string
}

// Secrets names each value by its kind and place: "secret #1", "secret #2", ...
func Secrets(values ...string) []Secret {
	out := make([]Secret, len(values))
	for i, v := range values {
		out[i] = Secret{Kind: fmt.Sprintf("secret #%d", i+1), Value: v}
	}
	return out
}

// FindSecrets returns the kinds of the secrets that data holds, as they are or
// URL-encoded. An empty value is in everything: a secret that was never captured fails
// the search instead of passing it.
func FindSecrets(data []byte, secrets []Secret) []string {
	var found []string
	for _, s := range secrets {
		for _, form := range []string{s.Value, url.QueryEscape(s.Value)} {
			if bytes.Contains(data, []byte(form)) {
				found = append(found, s.Kind)
				break
			}
		}
	}
	return found
}

// CheckNoSecret reports to t, as a violation of invariant, each secret that data (from
// where) holds, and says whether it found any.
func CheckNoSecret(t testing.TB, invariant, where string, data []byte, secrets []Secret) bool {
	t.Helper()
	found := FindSecrets(data, secrets)
	for _, kind := range found {
		t.Errorf("invariant «%s»: %s appears in %s", invariant, kind, where)
	}
	return len(found) > 0
}

// CheckTreeHasNoSecret reads every file under dir but those in a .terraform directory
// (plugin cache and modules: links to binaries, not written from data) and reports each
// secret found, as CheckNoSecret. visit, when not nil, sees each file read. It returns
// the number of files read.
func CheckTreeHasNoSecret(t testing.TB, invariant, dir string, secrets []Secret, visit func(path string, data []byte)) int {
	t.Helper()
	files := 0
	skip := string(filepath.Separator) + ".terraform" + string(filepath.Separator)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || bytes.Contains([]byte(p), []byte(skip)) {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		if visit != nil {
			visit(p, data)
		}
		CheckNoSecret(t, invariant, p, data, secrets)
		return nil
	})
	if err != nil {
		t.Fatalf("searching %s for secrets: %v", dir, err)
	}
	return files
}

// CheckTraceLogHasNoSecret reads the TF_LOG=trace log at path, fails t unless it holds
// every marker (else the search would prove nothing), and reports each secret found, as
// CheckNoSecret. It returns the log's size.
func CheckTraceLogHasNoSecret(t testing.TB, invariant, path string, markers []string, secrets []Secret) int {
	t.Helper()
	log, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("trace log: %v", err)
	}
	for _, m := range markers {
		if !bytes.Contains(log, []byte(m)) {
			t.Errorf("the trace log (%d bytes) lacks %q: the search would prove nothing", len(log), m)
		}
	}
	CheckNoSecret(t, invariant, "the TF_LOG=trace log "+path, log, secrets)
	return len(log)
}
