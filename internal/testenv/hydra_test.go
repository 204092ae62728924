package testenv

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func TestHydraDiscovery(t *testing.T) {
	t.Parallel()
	h := StartHydra(t, HydraOptions{})
	t.Logf("hydra start-up (memory DSN): %s", h.StartedIn)
	assertNotInArgv(t, h.proc, envValue(h.proc.env, "SECRETS_SYSTEM"))

	var disc struct {
		Issuer                        string   `json:"issuer"`
		AuthorizationEndpoint         string   `json:"authorization_endpoint"`
		TokenEndpoint                 string   `json:"token_endpoint"`
		JWKSURI                       string   `json:"jwks_uri"`
		CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
		GrantTypesSupported           []string `json:"grant_types_supported"`
	}
	if err := doJSON(http.MethodGet, h.PublicURL+"/.well-known/openid-configuration", nil, &disc, http.StatusOK); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSuffix(disc.Issuer, "/") != h.PublicURL || h.Issuer != disc.Issuer {
		t.Errorf("issuer %q (h.Issuer %q), want %s", disc.Issuer, h.Issuer, h.PublicURL)
	}
	if disc.AuthorizationEndpoint != h.PublicURL+"/oauth2/auth" || disc.TokenEndpoint != h.PublicURL+"/oauth2/token" {
		t.Errorf("endpoints %q %q", disc.AuthorizationEndpoint, disc.TokenEndpoint)
	}
	if h.AuthURL != disc.AuthorizationEndpoint || h.TokenURL != disc.TokenEndpoint || h.RevokeURL != h.PublicURL+"/oauth2/revoke" {
		t.Errorf("AuthURL=%q TokenURL=%q RevokeURL=%q", h.AuthURL, h.TokenURL, h.RevokeURL)
	}
	if !slices.Contains(disc.CodeChallengeMethodsSupported, "S256") {
		t.Errorf("code_challenge_methods_supported = %v, want S256", disc.CodeChallengeMethodsSupported)
	}
	if !slices.Contains(disc.GrantTypesSupported, "refresh_token") {
		t.Errorf("grant_types_supported = %v, want refresh_token", disc.GrantTypesSupported)
	}
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
			Use string `json:"use"`
		} `json:"keys"`
	}
	if err := doJSON(http.MethodGet, disc.JWKSURI, nil, &jwks, http.StatusOK); err != nil {
		t.Fatal(err)
	}
	if len(jwks.Keys) == 0 || jwks.Keys[0].Kid == "" || jwks.Keys[0].Use != "sig" {
		t.Errorf("jwks %s: %+v, want signing keys", disc.JWKSURI, jwks.Keys)
	}
	if !strings.HasPrefix(h.AdminURL, "http://127.0.0.1:") {
		t.Errorf("admin API at %s, want 127.0.0.1", h.AdminURL)
	}
}

// TestHydraClientAuthMethodIsEnforced checks CreateClient's
// TokenEndpointAuthMethod and Introspect with the client credentials grant.
func TestHydraClientAuthMethodIsEnforced(t *testing.T) {
	t.Parallel()
	h := StartHydra(t, HydraOptions{AccessTokenTTL: 90 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, method := range []string{"client_secret_post", "client_secret_basic"} {
		id, secret := h.CreateClient(t, ClientSpec{GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}, TokenEndpointAuthMethod: method})
		right, wrong := oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader
		if method == "client_secret_basic" {
			right, wrong = wrong, right
		}
		cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: h.TokenURL, Scopes: []string{"read"}, AuthStyle: right}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("%s: token: %v", method, err)
		}
		ir := h.Introspect(t, tok.AccessToken)
		if !ir.Active || ir.ClientID != id || ir.TokenUse != "access_token" || !slices.Contains(ir.Scopes(), "read") {
			t.Errorf("%s: introspection %+v", method, ir)
		}
		if ttl := time.Until(time.Unix(ir.ExpiresAt, 0)); ttl > 91*time.Second || ttl < 60*time.Second {
			t.Errorf("%s: token expires in %s, want about 90s (AccessTokenTTL)", method, ttl)
		}
		cc.AuthStyle = wrong
		_, err = cc.Token(ctx)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
			t.Errorf("%s client authenticating the other way: err = %v, want invalid_client", method, err)
		}
	}
	if ir := h.Introspect(t, "not-a-token"); ir.Active {
		t.Errorf("a made-up token is active")
	}
}

func TestHydraPersistentRestartKeepsData(t *testing.T) {
	t.Parallel()
	h := StartHydra(t, HydraOptions{Persistent: true})
	t.Logf("hydra start-up (sqlite, after migrations): %s", h.StartedIn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, secret := h.CreateClient(t, ClientSpec{GrantTypes: []string{"client_credentials"}})
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: h.TokenURL}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}

	h.Stop()
	if _, err := cc.Token(ctx); err == nil {
		t.Fatalf("token endpoint answers after Stop")
	}
	if _, err := httpStatus(h.AdminURL + "/health/ready"); err == nil {
		t.Fatalf("admin API answers after Stop")
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("hydra restart (sqlite): %s", h.StartedIn)

	if ir := h.Introspect(t, tok.AccessToken); !ir.Active || ir.ClientID != id {
		t.Errorf("token issued before the restart: %+v, want active", ir)
	}
	if _, err := cc.Token(ctx); err != nil {
		t.Errorf("client created before the restart: %v", err)
	}
}

func TestHydraMemoryRestartLosesData(t *testing.T) {
	t.Parallel()
	h := StartHydra(t, HydraOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, secret := h.CreateClient(t, ClientSpec{GrantTypes: []string{"client_credentials"}})
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: h.TokenURL}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pub, adm := h.PublicURL, h.AdminURL
	if err := h.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("hydra restart (memory): %s", h.StartedIn)
	if h.PublicURL != pub || h.AdminURL != adm {
		t.Errorf("addresses changed across restart")
	}
	if ir := h.Introspect(t, tok.AccessToken); ir.Active {
		t.Errorf("token survived a restart with the memory DSN")
	}
	_, err = cc.Token(ctx)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
		t.Errorf("client after a memory restart: err = %v, want invalid_client", err)
	}
}

// oauthFlow is the client side of an authorization code flow in tests.
type oauthFlow struct {
	h   *Hydra
	b   *Browser
	cb  *CallbackServer
	cfg *oauth2.Config
}

func newOAuthFlow(t *testing.T, opts HydraOptions) *oauthFlow {
	t.Helper()
	f := &oauthFlow{h: StartHydra(t, opts), cb: StartCallbackServer(t)}
	id, secret := f.h.CreateClient(t, ClientSpec{RedirectURIs: []string{f.cb.URL}})
	f.cfg = &oauth2.Config{
		ClientID:     id,
		ClientSecret: secret,
		Endpoint:     oauth2.Endpoint{AuthURL: f.h.AuthURL, TokenURL: f.h.TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL:  f.cb.URL,
		Scopes:       []string{"openid", "offline_access", "email"},
	}
	f.b = StartBrowser(t)
	return f
}

// authorize runs the browser part of the flow and returns the query that
// reached the callback and the text of the final page.
func (f *oauthFlow) authorize(t *testing.T, ctx context.Context, verifier string) (query map[string]string, body string) {
	t.Helper()
	state := randomHex(16)
	start := time.Now()
	final, body, err := f.b.Visit(ctx, f.cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("browser round trip (authorize -> login -> consent -> callback): %s", time.Since(start))
	if !strings.HasPrefix(final, f.cb.URL+"?") {
		t.Fatalf("browser ended at %s, want the callback %s", final, f.cb.URL)
	}
	q, err := f.cb.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if q.Get("state") != state {
		t.Fatalf("callback state %q, want %q", q.Get("state"), state)
	}
	query = map[string]string{}
	for k := range q {
		query[k] = q.Get(k)
	}
	return query, body
}

func TestAuthorizationCodePKCEAndRefreshRotation(t *testing.T) {
	t.Parallel()
	f := newOAuthFlow(t, HydraOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	verifier := oauth2.GenerateVerifier()
	q, body := f.authorize(t, ctx, verifier)
	if q["code"] == "" || q["error"] != "" {
		t.Fatalf("callback query %v, want a code", q)
	}
	if !strings.Contains(body, "authorization complete") {
		t.Errorf("final page text %q", body)
	}
	if n := f.h.ConsentCount(); n != 1 {
		t.Errorf("ConsentCount = %d, want 1", n)
	}

	tok, err := f.cfg.Exchange(ctx, q["code"], oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token response lacks access token, refresh token or expiry: access=%v refresh=%v expiry=%v",
			tok.AccessToken != "", tok.RefreshToken != "", tok.Expiry)
	}
	// The ID token carries the subject and the email claim of the consent app.
	idt, _ := tok.Extra("id_token").(string)
	claims := jwtClaims(t, idt)
	if claims["sub"] != DefaultSubject || claims["email"] != DefaultSubject || claims["iss"] != f.h.Issuer {
		t.Errorf("id token claims sub=%v email=%v iss=%v, want %s, %s, %s", claims["sub"], claims["email"], claims["iss"], DefaultSubject, DefaultSubject, f.h.Issuer)
	}

	ir := f.h.Introspect(t, tok.AccessToken)
	if !ir.Active || ir.ClientID != f.cfg.ClientID || ir.Subject != DefaultSubject || ir.TokenUse != "access_token" ||
		!slices.Contains(ir.Scopes(), "offline_access") || !slices.Contains(ir.Scopes(), "openid") {
		t.Errorf("access token introspection %+v", ir)
	}
	if ir := f.h.Introspect(t, tok.RefreshToken); !ir.Active || ir.TokenUse != "refresh_token" {
		t.Errorf("refresh token introspection %+v", ir)
	}

	// Refresh rotates the refresh token.
	past := time.Now().Add(-time.Hour)
	nt, err := f.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: past}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if nt.RefreshToken == "" || nt.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh did not rotate the refresh token")
	}
	if nt.AccessToken == tok.AccessToken {
		t.Errorf("refresh returned the same access token")
	}
	if ir := f.h.Introspect(t, nt.AccessToken); !ir.Active || ir.Subject != DefaultSubject {
		t.Errorf("refreshed access token introspection %+v", ir)
	}
	if ir := f.h.Introspect(t, tok.RefreshToken); ir.Active {
		t.Errorf("the old refresh token is still active after rotation")
	}

	// Reusing the old refresh token is refused, and Hydra then revokes the
	// whole chain (reuse detection).
	_, err = f.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: past}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("reusing the old refresh token: err = %v, want invalid_grant", err)
	}
	if ir := f.h.Introspect(t, nt.RefreshToken); ir.Active {
		t.Errorf("the newest refresh token is still active after a reuse of an old one")
	}

	// The server enforces PKCE: a second authorization whose exchange sends
	// the wrong verifier fails.
	verifier2 := oauth2.GenerateVerifier()
	q, _ = f.authorize(t, ctx, verifier2)
	_, err = f.cfg.Exchange(ctx, q["code"], oauth2.VerifierOption(oauth2.GenerateVerifier()))
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("exchange with a wrong PKCE verifier: err = %v, want invalid_grant", err)
	}
}

func TestConsentDenyAndRevoke(t *testing.T) {
	t.Parallel()
	f := newOAuthFlow(t, HydraOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	f.h.SetDeny(true)
	q, body := f.authorize(t, ctx, oauth2.GenerateVerifier())
	if q["error"] != "access_denied" || q["code"] != "" {
		t.Errorf("denied consent: callback query %v, want error=access_denied and no code", q)
	}
	if !strings.Contains(body, "access_denied") {
		t.Errorf("final page text %q, want access_denied", body)
	}

	// Granting again works at runtime; then revoking the user's consent at
	// the provider kills the tokens.
	f.h.SetDeny(false)
	verifier := oauth2.GenerateVerifier()
	q, _ = f.authorize(t, ctx, verifier)
	if q["code"] == "" {
		t.Fatalf("after SetDeny(false): callback query %v, want a code", q)
	}
	if n := f.h.ConsentCount(); n != 2 {
		t.Errorf("ConsentCount = %d, want 2", n)
	}
	tok, err := f.cfg.Exchange(ctx, q["code"], oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	f.h.RevokeConsent(t, DefaultSubject)
	if ir := f.h.Introspect(t, tok.AccessToken); ir.Active {
		t.Errorf("access token active after RevokeConsent")
	}
	_, err = f.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("refresh after RevokeConsent: err = %v, want invalid_grant", err)
	}
}

// jwtClaims decodes the payload of a JWT without verifying it.
func jwtClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

func TestRefreshTokenRotationGracePeriod(t *testing.T) {
	t.Parallel()
	f := newOAuthFlow(t, HydraOptions{RefreshTokenRotationGracePeriod: time.Minute, AccessTokenTTL: 2 * time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	verifier := oauth2.GenerateVerifier()
	q, _ := f.authorize(t, ctx, verifier)
	tok, err := f.cfg.Exchange(ctx, q["code"], oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if ttl := time.Until(tok.Expiry); ttl > 2*time.Minute+time.Second || ttl < 90*time.Second {
		t.Errorf("access token expires in %s, want about 2m (AccessTokenTTL)", ttl)
	}
	past := time.Now().Add(-time.Hour)
	nt, err := f.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: past}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if nt.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh did not rotate the refresh token")
	}
	// Within the grace period the old refresh token still works.
	if _, err := f.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: past}).Token(); err != nil {
		t.Errorf("reusing the old refresh token within the grace period: %v", err)
	}
}
