package main

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// testVersion is the version of the test builds.
const testVersion = "0.1.0"

// module is the module path: the provider's command.
const module = "github.com/authconnection/terraform-provider-tailor"

// TestSnapshotRelease builds a snapshot for the host platform, signed with a throwaway key,
// and checks it as a registry and a user would: the file names, SHA256SUMS against every
// file, the detached signature against the public key, the archives' contents and build
// settings, `tokend --version`, the provider installed by OpenTofu from a filesystem mirror
// (unpacked and packed layouts) with its schema, and that a second build gives the same bytes.
func TestSnapshotRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the provider and tokend (about 30 s): not with -short")
	}
	t.Setenv("SOURCE_DATE_EPOCH", "")
	host := platform{runtime.GOOS, runtime.GOARCH}
	key := newTestKey(t)
	out := filepath.Join(t.TempDir(), "dist")
	buildRelease(t, options{platforms: []platform{host}, out: out, keyFile: key.file})

	zipPath := filepath.Join(out, fmt.Sprintf("%s_%s_%s.zip", providerName, testVersion, host))
	tgzPath := filepath.Join(out, fmt.Sprintf("tokend_%s_%s.tar.gz", testVersion, host))
	sums := filepath.Join(out, fmt.Sprintf("%s_%s_SHA256SUMS", providerName, testVersion))
	t.Run("names", func(t *testing.T) { checkNames(t, out, host, true) })
	t.Run("SHA256SUMS", func(t *testing.T) { checkSums(t, sums) })
	t.Run("signature", func(t *testing.T) { checkSignature(t, sums, key) })
	t.Run("provider zip", func(t *testing.T) {
		bin := unpackZip(t, zipPath, t.TempDir(), []string{providerName + "_v" + testVersion})
		checkBuildInfo(t, bin, module, host)
		out, err := exec.Command(bin, "-version").CombinedOutput()
		if got, want := strings.TrimSpace(string(out)), providerName+" "+testVersion; err != nil || got != want {
			t.Errorf("%s -version printed %q (%v), want %q", filepath.Base(bin), got, err, want)
		}
	})
	t.Run("tokend --version", func(t *testing.T) { checkTokend(t, tgzPath, host) })
	t.Run("tofu filesystem mirror", func(t *testing.T) { checkTofu(t, zipPath, host) })
	t.Run("deterministic", func(t *testing.T) {
		again := filepath.Join(t.TempDir(), "dist")
		t.Setenv("GPG_PRIVATE_KEY", "")
		buildRelease(t, options{platforms: []platform{host}, out: again})
		checkNames(t, again, host, false)
		for _, f := range []string{zipPath, tgzPath, sums} {
			a, b := readFile(t, f), readFile(t, filepath.Join(again, filepath.Base(f)))
			if !bytes.Equal(a, b) {
				t.Errorf("%s differs between two builds of the same tree", filepath.Base(f))
			}
		}
	})
}

// buildRelease runs a snapshot build of testVersion from the repository.
func buildRelease(t *testing.T, o options) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	o.version, o.snapshot, o.root = testVersion, true, root
	var log bytes.Buffer
	o.log = &log
	start := time.Now()
	if err := run(o); err != nil {
		t.Fatalf("release: %v\n%s", err, log.String())
	}
	t.Logf("built the release in %s:\n%s", time.Since(start).Round(time.Millisecond), log.String())
}

// checkNames checks that out holds exactly the artifacts of one platform, with the
// signature or without it.
func checkNames(t *testing.T, out string, p platform, signed bool) {
	t.Helper()
	want := []string{
		fmt.Sprintf("terraform-provider-tailor_%s_%s.zip", testVersion, p),
		fmt.Sprintf("terraform-provider-tailor_%s_manifest.json", testVersion),
		fmt.Sprintf("terraform-provider-tailor_%s_SHA256SUMS", testVersion),
		fmt.Sprintf("tokend_%s_%s.tar.gz", testVersion, p),
	}
	if signed {
		want = append(want, fmt.Sprintf("terraform-provider-tailor_%s_SHA256SUMS.sig", testVersion))
	}
	slices.Sort(want)
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Errorf("artifacts:\n got %q\nwant %q", got, want)
	}
	manifest := readFile(t, filepath.Join(out, want[slices.IndexFunc(want, func(s string) bool { return strings.HasSuffix(s, "_manifest.json") })]))
	var m struct {
		Version  int `json:"version"`
		Metadata struct {
			ProtocolVersions []string `json:"protocol_versions"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil || m.Version != 1 || !slices.Equal(m.Metadata.ProtocolVersions, []string{"6.0"}) {
		t.Errorf("manifest %s: %+v, %v", manifest, m, err)
	}
}

// checkSums checks every line of the SHA256SUMS file against the file it names, and that it
// names every artifact but itself and its signature.
func checkSums(t *testing.T, sums string) {
	t.Helper()
	dir := filepath.Dir(sums)
	var named []string
	for _, line := range strings.Split(strings.TrimSuffix(string(readFile(t, sums)), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q: want \"<hex>  <name>\"", line)
		}
		h := sha256.Sum256(readFile(t, filepath.Join(dir, name)))
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: SHA256SUMS says %s, the file hashes to %x", name, sum, h)
		}
		named = append(named, name)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range entries {
		if n := e.Name(); n != filepath.Base(sums) && n != filepath.Base(sums)+".sig" {
			want = append(want, n)
		}
	}
	if !slices.Equal(named, want) {
		t.Errorf("SHA256SUMS names %q, want %q (sorted)", named, want)
	}
}

// checkSignature verifies the detached signature of the SHA256SUMS file with the public key
// alone, as `gpg --verify` or a registry does, and that it fails for altered contents.
func checkSignature(t *testing.T, sums string, key testKey) {
	t.Helper()
	ring, err := openpgp.ReadArmoredKeyRing(strings.NewReader(key.public))
	if err != nil {
		t.Fatal(err)
	}
	data, sig := readFile(t, sums), readFile(t, sums+".sig")
	if bytes.HasPrefix(sig, []byte("-----BEGIN")) {
		t.Errorf("the signature is armored; the registries want a binary one")
	}
	signer, err := openpgp.CheckDetachedSignature(ring, bytes.NewReader(data), bytes.NewReader(sig), nil)
	if err != nil {
		t.Fatalf("the signature does not verify with the public key: %v", err)
	}
	if signer.PrimaryKey.Fingerprint == nil || !bytes.Equal(signer.PrimaryKey.Fingerprint, key.fingerprint) {
		t.Errorf("signed by %X, want %X", signer.PrimaryKey.Fingerprint, key.fingerprint)
	}
	altered := append(slices.Clone(data), '\n')
	if _, err := openpgp.CheckDetachedSignature(ring, bytes.NewReader(altered), bytes.NewReader(sig), nil); err == nil {
		t.Errorf("the signature verifies altered contents too")
	}
}

// checkBuildInfo checks the build settings recorded in the binary bin of the command pkg:
// CGO_ENABLED=0, -trimpath and the platform. Go does not record -ldflags in a -trimpath build
// (go.dev/issue/52372), so main.version is checked by running the binaries with -version.
func checkBuildInfo(t *testing.T, bin, pkg string, p platform) {
	t.Helper()
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("build info of %s: %v", bin, err)
	}
	if info.Path != pkg {
		t.Errorf("%s is the command %s, want %s", filepath.Base(bin), info.Path, pkg)
	}
	want := map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": p.goos, "GOARCH": p.goarch}
	for _, s := range info.Settings {
		if w, ok := want[s.Key]; ok {
			if s.Value != w {
				t.Errorf("%s built with %s=%q, want %q", filepath.Base(bin), s.Key, s.Value, w)
			}
			delete(want, s.Key)
		}
	}
	for k, v := range want {
		t.Errorf("%s has no build setting %s (want %q)", filepath.Base(bin), k, v)
	}
}

// checkTokend unpacks tokend's archive and runs `tokend --version`.
func checkTokend(t *testing.T, tgz string, p platform) {
	t.Helper()
	dir := t.TempDir()
	unpackTarGz(t, tgz, dir, []string{"tokend", "LICENSE", "README.md"})
	bin := filepath.Join(dir, "tokend")
	checkBuildInfo(t, bin, module+"/tokend", p)
	cmd := exec.Command(bin, "--version")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tokend --version: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "tokend version "+testVersion; got != want {
		t.Errorf("tokend --version printed %q, want %q", got, want)
	}
	for _, f := range []string{"LICENSE", "README.md"} {
		if !bytes.Equal(readFile(t, filepath.Join(dir, f)), readFile(t, filepath.Join("..", "..", f))) {
			t.Errorf("%s in the archive differs from the repository's", f)
		}
	}
}

// readFile returns the contents of path or fails the test.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
