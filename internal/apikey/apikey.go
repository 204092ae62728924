// Package apikey generates, parses, hashes and matches the bearer API keys that callers of
// `tokend serve` present, and the tokens of connect links, which have the same form.
//
// A key looks like tk_<id>_<secret>: id is 12 lowercase letters and digits (the record's
// name in Vault, safe to log), secret is 32 random bytes in base64url (256 bits, never
// stored). Vault keeps only the hex SHA-256 of the secret. A fast hash is right here: the
// secret is uniformly random, so there is nothing for a slow password hash to protect
// against, and the hot path stays cheap.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
)

// Prefix starts every key.
const Prefix = "tk_"

// LinkPrefix starts every connect link token: tl_<id>_<secret>.
const LinkPrefix = "tl_"

const (
	idLen       = 12
	secretBytes = 32
	idAlphabet  = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// ErrMalformed is returned by Parse for anything that is not a tokend API key.
var ErrMalformed = errors.New("not a tokend API key (want tk_<id>_<secret>)")

// Key is a newly generated key. Plain is shown once to the operator; only Hash is stored.
type Key struct {
	ID    string
	Plain string
	Hash  string
}

// String hides the key.
func (k Key) String() string { return "Key(" + k.ID + ")" }

// GoString hides the key.
func (k Key) GoString() string { return k.String() }

// Generate returns a new random key.
func Generate() (Key, error) { return generate(Prefix) }

// GenerateLink returns a new random connect link token.
func GenerateLink() (Key, error) { return generate(LinkPrefix) }

func generate(prefix string) (Key, error) {
	idb := make([]byte, idLen)
	if _, err := rand.Read(idb); err != nil {
		return Key{}, err
	}
	for i := range idb {
		idb[i] = idAlphabet[int(idb[i])%len(idAlphabet)]
	}
	sec := make([]byte, secretBytes)
	if _, err := rand.Read(sec); err != nil {
		return Key{}, err
	}
	secret := base64.RawURLEncoding.EncodeToString(sec)
	id := string(idb)
	return Key{ID: id, Plain: prefix + id + "_" + secret, Hash: HashSecret(secret)}, nil
}

// Parse splits a presented key into its id and secret.
func Parse(key string) (id, secret string, err error) { return parse(Prefix, key) }

// ParseLink splits a presented connect link token into its id and secret.
func ParseLink(token string) (id, secret string, err error) { return parse(LinkPrefix, token) }

func parse(prefix, key string) (id, secret string, err error) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", "", ErrMalformed
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || len(id) < 8 || len(id) > 32 || len(secret) < 16 || len(secret) > 128 {
		return "", "", ErrMalformed
	}
	for _, c := range id {
		if !strings.ContainsRune(idAlphabet, c) {
			return "", "", ErrMalformed
		}
	}
	return id, secret, nil
}

// HashSecret returns the hex SHA-256 of secret, the form stored in Vault.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Verify reports, in constant time, whether secret hashes to storedHash.
func Verify(secret, storedHash string) bool {
	// Decoded from a copy on the stack, not with hex.DecodeString: this runs on every token
	// request, and a []byte conversion of the 64-character string would allocate.
	var src [2 * sha256.Size]byte
	var want [sha256.Size]byte
	if len(storedHash) != len(src) {
		return false
	}
	copy(src[:], storedHash)
	if _, err := hex.Decode(want[:], src[:]); err != nil {
		return false
	}
	// The same for the secret (43 characters as Generate makes them): a conversion of more
	// than 32 bytes would allocate.
	var buf [64]byte
	var got [sha256.Size]byte
	if len(secret) <= len(buf) {
		got = sha256.Sum256(buf[:copy(buf[:], secret)])
		clear(buf[:])
	} else {
		got = sha256.Sum256([]byte(secret))
	}
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// ValidatePattern checks a connection name or glob pattern (path.Match syntax: *, ?, [a-z]).
func ValidatePattern(p string) error {
	if p == "" {
		return errors.New("empty connection pattern")
	}
	if strings.ContainsAny(p, "/ ,") {
		return fmt.Errorf("invalid connection pattern %q: give names or globs such as google-* separated by commas", p)
	}
	if _, err := path.Match(p, "x"); err != nil {
		return fmt.Errorf("invalid connection pattern %q: %v", p, err)
	}
	return nil
}

// ParsePatterns splits a comma-separated list of names and patterns and validates each.
func ParsePatterns(list string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if err := ValidatePattern(p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("give at least one connection name or pattern, e.g. --connections 'google-*,ms365-oauth'")
	}
	return out, nil
}

// Allows reports whether one of patterns matches the connection name.
func Allows(patterns []string, name string) bool {
	for _, p := range patterns {
		if p == name {
			return true
		}
		if ok, err := path.Match(p, name); err == nil && ok {
			return true
		}
	}
	return false
}
