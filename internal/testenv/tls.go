package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCA is a certificate authority that a test holds, with one server certificate it
// issued for 127.0.0.1, ::1 and localhost. Give Chromium BrowserOptions.ExtraFlags
// ChromiumTrust() so that it trusts that certificate's key, and Go clients Pool.
type TestCA struct {
	// Pool holds the CA certificate.
	Pool *x509.CertPool
	// Server is the server certificate and key, for tls.Config.Certificates.
	Server tls.Certificate
	// CertFile and KeyFile hold Server in PEM (for tokend --tls-cert and --tls-key); CAFile
	// the CA certificate.
	CertFile, KeyFile, CAFile string
	spki                      string
}

// NewTestCA makes a CA and a server certificate, and writes them into t.TempDir().
func NewTestCA(t testing.TB) *TestCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tailor test CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca := &TestCA{Pool: x509.NewCertPool()}
	ca.Pool.AddCert(caCert)
	ca.Server = tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sum := sha256.Sum256(spki)
	ca.spki = base64.StdEncoding.EncodeToString(sum[:])
	ca.writeFiles(t, der, caDER, key)
	return ca
}

func (ca *TestCA) writeFiles(t testing.TB, der, caDER []byte, key *ecdsa.PrivateKey) {
	t.Helper()
	dir := t.TempDir()
	ca.CertFile, ca.KeyFile, ca.CAFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), filepath.Join(dir, "ca.crt")
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	for f, b := range map[string][]byte{ca.CertFile: chain, ca.KeyFile: []byte(PKCS8PEM(t, key)),
		ca.CAFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// ChromiumTrust returns the Chromium switch that trusts the server certificate's key (and
// nothing else): ignore-certificate-errors-spki-list with its SHA-256 SPKI hash.
func (ca *TestCA) ChromiumTrust() map[string]any {
	return map[string]any{"ignore-certificate-errors-spki-list": ca.spki}
}

// ServerTLS is a tls.Config that serves the server certificate.
func (ca *TestCA) ServerTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{ca.Server}, MinVersion: tls.VersionTLS12}
}

// NewP256Key returns a new P-256 private key and its PKCS #8 PEM encoding (what tokend's
// --client-assertion-key-file and --tls-key read).
func NewP256Key(t testing.TB) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key, PKCS8PEM(t, key)
}

// PKCS8PEM encodes key as a PKCS #8 "PRIVATE KEY" PEM block.
func PKCS8PEM(t testing.TB, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}
