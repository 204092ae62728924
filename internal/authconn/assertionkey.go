package authconn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParseAssertionKey parses the PEM private key of a private_key_jwt client (PKCS#8, PKCS#1
// or SEC 1) and returns it with the JWS algorithm it signs with: RS256 for RSA keys of at
// least 2048 bits, ES256 for P-256 keys, at most MaxAssertionKeyLen bytes of PEM. Errors never
// contain the key.
func ParseAssertionKey(pemKey string) (crypto.Signer, string, error) {
	if len(pemKey) > MaxAssertionKeyLen {
		return nil, "", fmt.Errorf("the client assertion key is %d bytes long: the limit is %d bytes; give only the private key in PEM", len(pemKey), MaxAssertionKeyLen)
	}
	block, rest := pem.Decode([]byte(pemKey))
	if block == nil {
		return nil, "", errors.New("the client assertion key is not PEM: give the private key as -----BEGIN PRIVATE KEY----- ... (PKCS#8), RSA PRIVATE KEY or EC PRIVATE KEY")
	}
	if p, _ := pem.Decode(rest); p != nil {
		return nil, "", errors.New("the client assertion key holds more than one PEM block: give only the private key")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, "", fmt.Errorf("the client assertion key is a PEM %q block: give a private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, "", errors.New("the client assertion key cannot be parsed: give an unencrypted RSA or P-256 private key in PEM")
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, "", fmt.Errorf("the client assertion key is a %d-bit RSA key: use at least 2048 bits", k.N.BitLen())
		}
		return k, "RS256", nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, "", fmt.Errorf("the client assertion key is an EC key on %s: use P-256 (ES256)", k.Curve.Params().Name)
		}
		return k, "ES256", nil
	}
	return nil, "", fmt.Errorf("the client assertion key is a %T: use an RSA (RS256) or P-256 (ES256) key", key)
}
