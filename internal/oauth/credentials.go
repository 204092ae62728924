package oauth

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// Credentials are a connection's OAuth2 client credentials: a client secret, or for
// private_key_jwt a key that signs client assertions (RFC 7523, OpenID Connect Core 9).
type Credentials struct {
	ClientID     string
	ClientSecret string
	// Key signs client assertions with Alg (RS256 or ES256); KeyID is their kid.
	Key   crypto.Signer
	Alg   string
	KeyID string
}

// String hides the secret and the key.
func (c Credentials) String() string { return fmt.Sprintf("Credentials(client_id=%s)", c.ClientID) }

// GoString hides the secret and the key.
func (c Credentials) GoString() string { return c.String() }

// KeyCredentials returns the credentials of a private_key_jwt client whose private key is
// pemKey. An empty keyID becomes the key's RFC 7638 thumbprint (SHA-256, base64url), the kid
// to register with the public key at the provider.
func KeyCredentials(clientID, pemKey, keyID string) (Credentials, error) {
	key, alg, err := authconn.ParseAssertionKey(pemKey)
	if err != nil {
		return Credentials{}, err
	}
	if keyID == "" {
		if keyID, err = Thumbprint(key.Public()); err != nil {
			return Credentials{}, err
		}
	}
	return Credentials{ClientID: clientID, Key: key, Alg: alg, KeyID: keyID}, nil
}

// Thumbprint returns the RFC 7638 thumbprint (SHA-256, base64url) of a public key.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("computing the key's thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// PublicJWK returns the public JSON Web Key of c's signing key, with its kid, alg and use
// "sig": what to register at the provider for a private_key_jwt client.
func (c Credentials) PublicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: c.Key.Public(), KeyID: c.KeyID, Algorithm: c.Alg, Use: "sig"}
}

// PublicJWKSet returns the JSON Web Key Set (RFC 7517 section 5) of c's public key,
// indented: the document a provider takes as a private_key_jwt client's keys.
func (c Credentials) PublicJWKSet() ([]byte, error) {
	return json.MarshalIndent(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{c.PublicJWK()}}, "", "  ")
}

// assertionType is the client_assertion_type of a JWT client assertion (RFC 7523 2.2).
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime is how long a client assertion is valid.
const assertionLifetime = 2 * time.Minute

// assertion returns a client assertion for the token endpoint audience: iss and sub the
// client id, aud the token endpoint, a random jti, and a short lifetime.
func (c Credentials) assertion(audience string, now time.Time) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(c.Alg), Key: c.Key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", c.KeyID))
	if err != nil {
		return "", fmt.Errorf("signing the client assertion: %w", err)
	}
	claims := jwt.Claims{Issuer: c.ClientID, Subject: c.ClientID, Audience: jwt.Audience{audience}, ID: randomString(16),
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-30 * time.Second)),
		Expiry: jwt.NewNumericDate(now.Add(assertionLifetime))}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("signing the client assertion: %w", err)
	}
	return s, nil
}

// authStyle returns how x/oauth2 must authenticate c: in the body (and with no secret) for
// a key, else the provider's style.
func (c Credentials) authStyle(p *Provider) oauth2.AuthStyle {
	if c.Key != nil {
		return oauth2.AuthStyleInParams
	}
	return p.AuthStyle
}
