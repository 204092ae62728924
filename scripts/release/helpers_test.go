package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// unpackZip extracts the zip into dir, checks that it holds exactly the files want, each
// executable, and returns the path of the first.
func unpackZip(t *testing.T, path, dir string, want []string) string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Mode().Perm() != 0o755 {
			t.Errorf("%s in %s has mode %v, want -rwxr-xr-x", f.Name, filepath.Base(path), f.Mode())
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		extract(t, rc, filepath.Join(dir, f.Name), f.Mode().Perm())
		rc.Close()
	}
	if !slices.Equal(names, want) {
		t.Fatalf("%s holds %q, want %q", filepath.Base(path), names, want)
	}
	return filepath.Join(dir, want[0])
}

// unpackTarGz extracts the tar.gz into dir and checks that it holds exactly the regular
// files want, in that order.
func unpackTarGz(t *testing.T, path, dir string, want []string) {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(readFile(t, path)))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || strings.Contains(h.Name, "/") {
			t.Fatalf("%s: entry %q of type %c, want regular files at the top", filepath.Base(path), h.Name, h.Typeflag)
		}
		names = append(names, h.Name)
		extract(t, tr, filepath.Join(dir, h.Name), os.FileMode(h.Mode).Perm())
	}
	if !slices.Equal(names, want) {
		t.Fatalf("%s holds %q, want %q", filepath.Base(path), names, want)
	}
}

// extract writes r to path with mode perm, creating its directory.
func extract(t *testing.T, r io.Reader, path string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, r); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// testKey is a throwaway OpenPGP key: its armored private key in a file, its armored public
// key, its fingerprint.
type testKey struct {
	file, private, public string
	fingerprint           []byte
}

// generatedKey makes one RSA key per test binary (RSA generation takes a moment).
var generatedKey = sync.OnceValues(func() (testKey, error) {
	e, err := openpgp.NewEntity("tailor release test", "throwaway", "release-test@example.invalid", &packet.Config{RSABits: 2048})
	if err != nil {
		return testKey{}, err
	}
	var priv, pub bytes.Buffer
	if err := armored(&priv, openpgp.PrivateKeyType, func(w io.Writer) error { return e.SerializePrivate(w, nil) }); err != nil {
		return testKey{}, err
	}
	if err := armored(&pub, openpgp.PublicKeyType, e.Serialize); err != nil {
		return testKey{}, err
	}
	return testKey{private: priv.String(), public: pub.String(), fingerprint: e.PrimaryKey.Fingerprint}, nil
})

// newTestKey returns the throwaway key with its private key written to a file (mode 0600).
func newTestKey(t *testing.T) testKey {
	t.Helper()
	k, err := generatedKey()
	if err != nil {
		t.Fatalf("generating a key: %v", err)
	}
	k.file = filepath.Join(t.TempDir(), "release-key.asc")
	if err := os.WriteFile(k.file, []byte(k.private), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// armored writes what write writes as an armored block of type blockType.
func armored(w io.Writer, blockType string, write func(io.Writer) error) error {
	aw, err := armor.Encode(w, blockType, nil)
	if err != nil {
		return err
	}
	if err := write(aw); err != nil {
		return err
	}
	return aw.Close()
}
