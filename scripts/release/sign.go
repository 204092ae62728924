package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// writeSums writes the SHA256SUMS file dst: one line "<hex>  <name>" per file, sorted by
// name, the format of sha256sum and GoReleaser, which `sha256sum -c` checks.
func writeSums(dst string, files []string) error {
	var lines []string
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%x  %s\n", sha256.Sum256(b), filepath.Base(path)))
	}
	slices.SortFunc(lines, func(a, b string) int {
		return strings.Compare(a[strings.Index(a, "  "):], b[strings.Index(b, "  "):])
	})
	return os.WriteFile(dst, []byte(strings.Join(lines, "")), 0o644)
}

// loadSigner reads the armored OpenPGP private key from the file keyFile, or else from the
// environment variable GPG_PRIVATE_KEY, and returns its first entity with a private key,
// decrypted with GPG_PASSPHRASE when protected; it returns nil, nil when there is no key.
func loadSigner(keyFile string, getenv func(string) string) (*openpgp.Entity, error) {
	var armored []byte
	source := "GPG_PRIVATE_KEY"
	switch {
	case keyFile != "":
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
		armored, source = b, keyFile
	case getenv("GPG_PRIVATE_KEY") != "":
		armored = []byte(getenv("GPG_PRIVATE_KEY"))
	default:
		return nil, nil
	}
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("signing key from %s: %w", source, err)
	}
	i := slices.IndexFunc(ring, func(e *openpgp.Entity) bool { return e.PrivateKey != nil })
	if i < 0 {
		return nil, fmt.Errorf("signing key from %s: no private key in it (export it with gpg --armor --export-secret-keys)", source)
	}
	e := ring[i]
	if err := decrypt(e, getenv("GPG_PASSPHRASE")); err != nil {
		return nil, fmt.Errorf("signing key from %s: %w", source, err)
	}
	key, ok := e.SigningKey(time.Now())
	if !ok {
		return nil, fmt.Errorf("signing key from %s: no valid signing key (expired or revoked?)", source)
	}
	if a := key.PublicKey.PubKeyAlgo; a != packet.PubKeyAlgoRSA && a != packet.PubKeyAlgoRSASignOnly && a != packet.PubKeyAlgoDSA {
		fmt.Fprintf(os.Stderr, "release: warning: the signing key is not RSA or DSA, which the Terraform Registry asks for\n")
	}
	return e, nil
}

// decrypt decrypts the private keys of e that are protected, with passphrase.
func decrypt(e *openpgp.Entity, passphrase string) error {
	encrypted := e.PrivateKey.Encrypted
	for _, s := range e.Subkeys {
		encrypted = encrypted || (s.PrivateKey != nil && s.PrivateKey.Encrypted)
	}
	if !encrypted {
		return nil
	}
	if passphrase == "" {
		return errors.New("the key is protected by a passphrase: set GPG_PASSPHRASE")
	}
	if err := e.DecryptPrivateKeys([]byte(passphrase)); err != nil {
		return fmt.Errorf("decrypting with GPG_PASSPHRASE: %w", err)
	}
	return nil
}

// signFile writes path+".sig", a detached binary OpenPGP signature of the file path, as
// `gpg --detach-sign` makes it.
func signFile(path string, signer *openpgp.Entity) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	var sig bytes.Buffer
	if err := openpgp.DetachSign(&sig, signer, in, nil); err != nil {
		return fmt.Errorf("signing %s: %w", filepath.Base(path), err)
	}
	return os.WriteFile(path+".sig", sig.Bytes(), 0o644)
}
