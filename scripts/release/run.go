package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// providerName is the provider's project name: the prefix of its artifacts.
const providerName = "terraform-provider-tailor"

// run builds every platform of o into o.out, then the manifest, SHA256SUMS and its signature.
// It checks everything that can fail without building first: the version, the tag and the
// tree (unless o.snapshot), the key, and the output directory.
func run(o options) error {
	signer, err := prepare(&o)
	if err != nil {
		return err
	}
	mtime := sourceDate(o.root, o.log)
	work, err := os.MkdirTemp("", "tailor-release-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	var files []string
	for _, p := range o.platforms {
		fmt.Fprintf(o.log, "release: building %s %s\n", o.version, p)
		built, err := buildPlatform(o, p, filepath.Join(work, p.String()), mtime)
		if err != nil {
			return err
		}
		files = append(files, built...)
	}
	manifest := filepath.Join(o.out, fmt.Sprintf("%s_%s_manifest.json", providerName, o.version))
	if err := copyFile(filepath.Join(o.root, "terraform-registry-manifest.json"), manifest); err != nil {
		return err
	}
	files = append(files, manifest)
	sums := filepath.Join(o.out, fmt.Sprintf("%s_%s_SHA256SUMS", providerName, o.version))
	if err := writeSums(sums, files); err != nil {
		return err
	}
	return finish(o, signer, sums)
}

// prepare normalizes o.version and checks what can be checked before building; it returns
// the signing key, nil for a snapshot without one.
func prepare(o *options) (*openpgp.Entity, error) {
	v, err := checkVersion(o.version)
	if err != nil {
		return nil, err
	}
	o.version = v
	if len(o.platforms) == 0 {
		return nil, fmt.Errorf("no platforms to build")
	}
	if o.log == nil {
		o.log = io.Discard
	}
	if !o.snapshot {
		if err := checkTree(o.root, o.version); err != nil {
			return nil, err
		}
	}
	signer, err := loadSigner(o.keyFile, os.Getenv)
	if err != nil {
		return nil, err
	}
	if signer == nil && !o.snapshot {
		return nil, fmt.Errorf("no signing key: give -gpg-key-file or set GPG_PRIVATE_KEY (or build a -snapshot)")
	}
	return signer, emptyDir(o.out)
}

// finish signs the SHA256SUMS file when there is a key, and lists what was written.
func finish(o options, signer *openpgp.Entity, sums string) error {
	if signer != nil {
		if err := signFile(sums, signer); err != nil {
			return err
		}
		fmt.Fprintf(o.log, "release: signed %s with key %X\n", filepath.Base(sums), signer.PrimaryKey.Fingerprint)
	} else {
		fmt.Fprintf(o.log, "release: snapshot without a signing key: %s is not signed (no .sig written)\n", filepath.Base(sums))
	}
	entries, err := os.ReadDir(o.out)
	if err != nil {
		return err
	}
	for _, e := range entries {
		fmt.Fprintf(o.log, "release: %s\n", filepath.Join(o.out, e.Name()))
	}
	return nil
}

// emptyDir creates dir, or checks that it is empty, so that no artifact of an earlier
// build is mixed with this one's.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty: remove it first (make release does)", dir)
	}
	return nil
}

// copyFile copies the regular file src to dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// fixedDate is the time of the archive entries when neither $SOURCE_DATE_EPOCH nor git
// gives one (a source tree without .git): still the same for every build.
var fixedDate = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
