package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

func TestClientCredentialsSendsScopesAudienceAndResources(t *testing.T) {
	srv := newTokenServer(t, func(url.Values) (int, any) {
		return 200, map[string]any{"access_token": "cc-at", "token_type": "Bearer", "expires_in": 300}
	})
	p, err := testClient().Resolve(context.Background(), &authconn.Connection{ProviderURL: "https://idp.example.com", AuthURL: srv.URL,
		TokenURL: srv.URL, ClientAuth: authconn.ClientAuthBasic, Audience: "https://api.example.com",
		Resources: []string{"https://api.example.com/", "https://files.example.com/"}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := testClient().ClientCredentials(context.Background(), p, Credentials{ClientID: "svc", ClientSecret: "svc-secret"}, []string{"read", "write"})
	if err != nil {
		t.Fatal(err)
	}
	req := srv.last(t)
	f := req.form
	if f.Get("grant_type") != "client_credentials" || f.Get("scope") != "read write" || f.Get("audience") != "https://api.example.com" ||
		strings.Join(f["resource"], " ") != "https://api.example.com/ https://files.example.com/" {
		t.Fatalf("client credentials form %v", redactForm(f))
	}
	if req.user != "svc" || req.pass != "svc-secret" || f.Get("client_secret") != "" {
		t.Fatal("client_secret_basic: the secret must be in the Authorization header only")
	}
	if tok.AccessToken != "cc-at" || tok.RefreshToken != "" || tok.ExpiresIn != 5*time.Minute {
		t.Fatalf("answer %s", tok)
	}
}

func TestClientCredentialsErrorsAreClassified(t *testing.T) {
	for _, c := range []struct {
		status int
		code   string
		kind   ErrorKind
	}{
		{401, "invalid_client", KindInvalidClient},
		{400, "unauthorized_client", KindInvalidClient},
		{400, "invalid_scope", KindRejected},
		{503, "temporarily_unavailable", KindTransient},
	} {
		srv := newTokenServer(t, func(url.Values) (int, any) { return c.status, map[string]string{"error": c.code} })
		p := customProvider(srv.URL)
		_, err := testClient().ClientCredentials(context.Background(), p, Credentials{ClientID: "svc", ClientSecret: "SECRET-XYZ"}, nil)
		var oe *Error
		if !errors.As(err, &oe) || oe.Kind != c.kind || oe.Op != "client credentials" || !strings.Contains(err.Error(), c.code) {
			t.Errorf("%d %s: %v, want kind %v", c.status, c.code, err, c.kind)
		}
		if strings.Contains(err.Error(), "SECRET-XYZ") {
			t.Errorf("the error leaks the secret: %v", err)
		}
	}
}

func pemKey(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// assertionServer is a token endpoint that checks private_key_jwt client assertions
// against pub, as an authorization server does.
func assertionServer(t *testing.T, pub any, kid string) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var jtis []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		fail := func(why string) {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": why})
		}
		if r.PostForm.Get("client_secret") != "" || r.Header.Get("Authorization") != "" {
			fail("a secret was sent")
			return
		}
		if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			fail("client_assertion_type")
			return
		}
		tok, err := jwt.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
		if err != nil || len(tok.Headers) != 1 || tok.Headers[0].KeyID != kid {
			fail("not a JWT with the registered kid")
			return
		}
		var c jwt.Claims
		if err := tok.Claims(pub, &c); err != nil {
			fail("signature: " + err.Error())
			return
		}
		tokenURL := "http://" + r.Host + r.URL.Path
		err = c.ValidateWithLeeway(jwt.Expected{Issuer: "svc", Subject: "svc", AnyAudience: jwt.Audience{tokenURL}, Time: time.Now()}, 0)
		if err != nil || c.ID == "" || c.Expiry.Time().Sub(c.IssuedAt.Time()) > 2*time.Minute || r.PostForm.Get("client_id") != "svc" {
			fail("claims")
			return
		}
		mu.Lock()
		jtis = append(jtis, c.ID)
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + c.ID, "expires_in": 60})
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), jtis...) }
}

func TestPrivateKeyJWTWithRSAAndEC(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		key  any
		pub  any
		alg  string
	}{{"RS256", rsaKey, &rsaKey.PublicKey, "RS256"}, {"ES256", ecKey, &ecKey.PublicKey, "ES256"}} {
		t.Run(c.name, func(t *testing.T) {
			creds, err := KeyCredentials("svc", pemKey(t, c.key), "")
			if err != nil {
				t.Fatal(err)
			}
			want, _ := Thumbprint(c.pub)
			if creds.Alg != c.alg || creds.KeyID != want || creds.PublicJWK().KeyID != want {
				t.Fatalf("credentials: alg %s kid %s, want %s %s", creds.Alg, creds.KeyID, c.alg, want)
			}
			srv, jtis := assertionServer(t, c.pub, want)
			p, _ := (&Client{}).Resolve(context.Background(), &authconn.Connection{ProviderURL: "https://idp.example.com",
				AuthURL: srv.URL + "/auth", TokenURL: srv.URL + "/token", ClientAuth: authconn.ClientAuthPrivateKeyJWT})
			for range 2 {
				if _, err := (&Client{}).ClientCredentials(context.Background(), p, creds, nil); err != nil {
					t.Fatal(err)
				}
			}
			if got := jtis(); len(got) != 2 || got[0] == got[1] {
				t.Fatalf("jtis %v: every assertion needs its own jti", got)
			}
		})
	}
}

func TestAssertionKeysAreChecked(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, in := range map[string]string{
		"not PEM":      "hello",
		"a small RSA":  pemKey(t, small),
		"a P-384 key":  pemKey(t, p384),
		"a public key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
	} {
		if _, err := KeyCredentials("svc", in, ""); err == nil {
			t.Errorf("%s was accepted as a client assertion key", name)
		}
	}
}

// deviceImitation answers like a provider's device authorization and token endpoints:
// pending polls first, then slow_down once when asked, then tokens, access_denied or
// expired_token.
type deviceImitation struct {
	*httptest.Server
	field        string // "verification_url" (Google) or "verification_uri" (RFC 8628, Microsoft)
	secret       string // the client secret the token endpoint wants in the body ("" for a public client)
	pending      int
	slowDown     bool
	final        string // "", "access_denied" or "expired_token"
	mu           sync.Mutex
	polls        []time.Time
	deviceClient string
}

func newDeviceImitation(t *testing.T, d *deviceImitation) *deviceImitation {
	d.Server = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.Close)
	return d
}

func (d *deviceImitation) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/device" {
		d.deviceClient = r.PostForm.Get("client_id")
		_ = json.NewEncoder(w).Encode(map[string]any{"device_code": "dev-code", "user_code": "WDJB-MJHT", d.field: d.URL + "/activate",
			"verification_uri_complete": d.URL + "/activate?user_code=WDJB-MJHT", "expires_in": 60, "interval": 1})
		return
	}
	d.mu.Lock()
	d.polls = append(d.polls, time.Now())
	n := len(d.polls)
	d.mu.Unlock()
	answer := func(code string) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
	}
	switch {
	case r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" || r.PostForm.Get("device_code") != "dev-code":
		answer("invalid_request")
	case r.PostForm.Get("client_secret") != d.secret:
		answer("invalid_client")
	case n <= d.pending:
		answer("authorization_pending")
	case d.slowDown && n == d.pending+1:
		answer("slow_down")
	case d.final != "":
		answer(d.final)
	default:
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "dev-at", "refresh_token": "dev-rt", "expires_in": 3600, "token_type": "Bearer"})
	}
}

// presetWith resolves the preset of providerURL with its endpoints pointed at imitation d.
func presetWith(t *testing.T, providerURL string, d *deviceImitation) *Provider {
	p, err := (&Client{}).Resolve(context.Background(), &authconn.Connection{ProviderURL: providerURL, TokenURL: d.URL + "/token", AuthURL: d.URL + "/auth"})
	if err != nil {
		t.Fatal(err)
	}
	if p.DeviceAuthURL == "" {
		t.Fatalf("preset %s has no device authorization endpoint", p.Name())
	}
	p.DeviceAuthURL = d.URL + "/device"
	return p
}

func TestGoogleDeviceFlowWithSlowDown(t *testing.T) {
	d := newDeviceImitation(t, &deviceImitation{field: "verification_url", secret: "g-secret", pending: 1, slowDown: true})
	p := presetWith(t, "https://accounts.google.com", d)
	c := &Client{}
	da, err := c.DeviceAuth(context.Background(), p, Credentials{ClientID: "g-client", ClientSecret: "g-secret"}, []string{"openid"})
	if err != nil {
		t.Fatal(err)
	}
	if da.UserCode != "WDJB-MJHT" || da.VerificationURI != d.URL+"/activate" || da.Interval != time.Second || d.deviceClient != "g-client" {
		t.Fatalf("device authorization %+v (Google names the field verification_url)", da)
	}
	tok, err := c.DeviceToken(context.Background(), da)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "dev-at" || tok.RefreshToken != "dev-rt" {
		t.Fatalf("token %s", tok)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.polls) != 3 {
		t.Fatalf("%d polls, want pending, slow_down, token", len(d.polls))
	}
	if gap := d.polls[2].Sub(d.polls[1]); gap < 6*time.Second-100*time.Millisecond {
		t.Errorf("after slow_down the next poll came %s later, want the interval plus 5 s", gap)
	}
}

func TestMicrosoftDeviceFlowDeniedAndExpired(t *testing.T) {
	for _, final := range []string{"access_denied", "expired_token"} {
		d := newDeviceImitation(t, &deviceImitation{field: "verification_uri", final: final})
		p := presetWith(t, "https://login.microsoftonline.com/contoso", d)
		c := &Client{}
		da, err := c.DeviceAuth(context.Background(), p, Credentials{ClientID: "ms-public-client"}, []string{"User.Read"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(da.Scopes, " "), "offline_access") {
			t.Errorf("the Microsoft preset's offline_access is missing from the device request: %v", da.Scopes)
		}
		_, err = c.DeviceToken(context.Background(), da)
		var oe *Error
		if !errors.As(err, &oe) || oe.Code != final || oe.Permanent() == false {
			t.Errorf("%s: %v", final, err)
		}
	}
}
