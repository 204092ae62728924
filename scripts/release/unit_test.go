package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// TestCheckVersion accepts semver with or without a leading v and rejects the rest.
func TestCheckVersion(t *testing.T) {
	for in, want := range map[string]string{"0.1.0": "0.1.0", "v1.2.3": "1.2.3", "1.0.0-rc.1": "1.0.0-rc.1"} {
		if got, err := checkVersion(in); err != nil || got != want {
			t.Errorf("checkVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1.0", "dev", "1.0.0/x", "1.0.0 "} {
		if _, err := checkVersion(in); err == nil {
			t.Errorf("checkVersion(%q) accepted it", in)
		}
	}
}

// TestParsePlatforms reads the default list and rejects malformed entries.
func TestParsePlatforms(t *testing.T) {
	ps, err := parsePlatforms(defaultPlatforms)
	if err != nil || len(ps) != 13 || ps[0] != (platform{"darwin", "amd64"}) {
		t.Errorf("default platforms: %v, %v", ps, err)
	}
	for _, in := range []string{"", "linux", "linux/", "/amd64", "linux/arm/v7"} {
		if _, err := parsePlatforms(in); err == nil {
			t.Errorf("parsePlatforms(%q) accepted it", in)
		}
	}
}

// TestReleaseNeedsTagAndKey refuses a release that is not a snapshot when HEAD is not tagged
// with the version or no key is given, before building anything.
func TestReleaseNeedsTagAndKey(t *testing.T) {
	t.Setenv("GPG_PRIVATE_KEY", "")
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "dist")
	err = run(options{version: "0.0.0-never.tagged", platforms: []platform{{"linux", "amd64"}}, out: out, root: root})
	if err == nil || !strings.Contains(err.Error(), "not tagged v0.0.0-never.tagged") {
		t.Errorf("release of an untagged version: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the refused release created %s", out)
	}
	err = run(options{version: "0.1.0", platforms: []platform{{"linux", "amd64"}}, out: t.TempDir(), root: root, snapshot: true,
		keyFile: filepath.Join(t.TempDir(), "missing.asc")})
	if err == nil || !strings.Contains(err.Error(), "signing key") {
		t.Errorf("release with a missing key file: %v", err)
	}
}

// TestLoadSigner reads the key from GPG_PRIVATE_KEY, decrypts a protected one with
// GPG_PASSPHRASE, and refuses a wrong passphrase, a public key and garbage.
func TestLoadSigner(t *testing.T) {
	k := newTestKey(t)
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	if e, err := loadSigner("", env(nil)); e != nil || err != nil {
		t.Errorf("no key: %v, %v; want nil, nil", e, err)
	}
	e, err := loadSigner("", env(map[string]string{"GPG_PRIVATE_KEY": k.private}))
	if err != nil || !bytes.Equal(e.PrimaryKey.Fingerprint, k.fingerprint) {
		t.Fatalf("key from GPG_PRIVATE_KEY: %v", err)
	}
	if err := e.EncryptPrivateKeys([]byte("correct horse"), nil); err != nil {
		t.Fatal(err)
	}
	var protected bytes.Buffer
	if err := armored(&protected, openpgp.PrivateKeyType, func(w io.Writer) error {
		return e.SerializePrivateWithoutSigning(w, nil)
	}); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct{ vars map[string]string }{
		"protected, no passphrase":    {map[string]string{"GPG_PRIVATE_KEY": protected.String()}},
		"protected, wrong passphrase": {map[string]string{"GPG_PRIVATE_KEY": protected.String(), "GPG_PASSPHRASE": "wrong"}},
		"public key only":             {map[string]string{"GPG_PRIVATE_KEY": k.public}},
		"not a key":                   {map[string]string{"GPG_PRIVATE_KEY": "hello"}},
	}
	for name, c := range cases {
		if _, err := loadSigner("", env(c.vars)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	vars := map[string]string{"GPG_PRIVATE_KEY": protected.String(), "GPG_PASSPHRASE": "correct horse"}
	if _, err := loadSigner("", env(vars)); err != nil {
		t.Errorf("protected key with its passphrase: %v", err)
	}
}

// TestGoReleaserConfigAgrees checks that .goreleaser.yml names the artifacts and sets the
// linker flags as this builder does, so that both give the registries the same release.
func TestGoReleaserConfigAgrees(t *testing.T) {
	cfg := string(readFile(t, filepath.Join("..", "..", ".goreleaser.yml")))
	want := map[string]int{
		"project_name: " + providerName:                                            1,
		"'" + ldflags("{{.Version}}") + "'":                                        2,
		"binary: '{{ .ProjectName }}_v{{ .Version }}'":                             1,
		"binary: tokend":                                                           1,
		"name_template: '{{ .ProjectName }}_{{ .Version }}_{{ .Os }}_{{ .Arch }}'": 1,
		"name_template: 'tokend_{{ .Version }}_{{ .Os }}_{{ .Arch }}'":             1,
		"name_template: '{{ .ProjectName }}_{{ .Version }}_manifest.json'":         2,
		"name_template: '{{ .ProjectName }}_{{ .Version }}_SHA256SUMS'":            1,
		"- CGO_ENABLED=0": 2,
		"- -trimpath":     2,
		"- zip":           1,
		"- tar.gz":        1,
	}
	for s, n := range want {
		if got := strings.Count(cfg, s); got != n {
			t.Errorf(".goreleaser.yml has %q %d times, want %d", s, got, n)
		}
	}
}

// TestCheckTree accepts a clean checkout of the tag v{VERSION} and refuses another tag or
// changes; sourceDate is the commit's time.
func TestCheckTree(t *testing.T) {
	repo := t.TempDir()
	gitIn := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.invalid",
			"-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_COMMITTER_DATE=2024-05-06T07:08:09Z", "GIT_AUTHOR_DATE=2024-05-06T07:08:09Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	gitIn("init", "-q")
	writeFile(t, filepath.Join(repo, "go.mod"), "module example\n")
	gitIn("add", ".")
	gitIn("commit", "-q", "-m", "one")
	gitIn("tag", "v1.2.3")
	if err := checkTree(repo, "1.2.3"); err != nil {
		t.Errorf("clean checkout of v1.2.3: %v", err)
	}
	if err := checkTree(repo, "1.2.4"); err == nil || !strings.Contains(err.Error(), "not tagged v1.2.4") {
		t.Errorf("checkout of v1.2.3 released as 1.2.4: %v", err)
	}
	writeFile(t, filepath.Join(repo, "go.mod"), "module changed\n")
	if err := checkTree(repo, "1.2.3"); err == nil || !strings.Contains(err.Error(), "changes") {
		t.Errorf("changed work tree: %v", err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "")
	if got, want := sourceDate(repo, io.Discard), time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC); !got.Equal(want) {
		t.Errorf("sourceDate = %s, want the commit's %s", got, want)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "86400")
	if got := sourceDate(repo, io.Discard); !got.Equal(time.Unix(86400, 0)) {
		t.Errorf("sourceDate with SOURCE_DATE_EPOCH=86400 = %s", got)
	}
}

// TestRootMustHoldGoMod: -root (by default the working directory) must be the module's
// root; elsewhere the script refuses before building anything.
func TestRootMustHoldGoMod(t *testing.T) {
	if _, err := parseFlags([]string{"-version", "0.1.0", "-root", t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no go.mod") {
		t.Errorf("-root without go.mod: %v", err)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if o, err := parseFlags([]string{"-version", "0.1.0", "-root", root}); err != nil || o.root != root {
		t.Errorf("-root %s: %+v %v", root, o.root, err)
	}
}
