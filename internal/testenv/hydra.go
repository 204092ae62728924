package testenv

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultSubject is the user that the login app of [StartHydra] logs in.
const DefaultSubject = "user@example.com"

const hydraReadyTimeout = 60 * time.Second

// HydraOptions configures [StartHydra]. The zero value gives Hydra's defaults
// (access token 1 h, refresh token 720 h, no rotation grace period) and an
// in-memory database.
type HydraOptions struct {
	// AccessTokenTTL sets TTL_ACCESS_TOKEN when not zero.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL sets TTL_REFRESH_TOKEN when not zero.
	RefreshTokenTTL time.Duration
	// IDTokenTTL sets TTL_ID_TOKEN when not zero.
	IDTokenTTL time.Duration
	// AuthCodeTTL sets TTL_AUTH_CODE when not zero.
	AuthCodeTTL time.Duration
	// RefreshTokenRotationGracePeriod sets
	// OAUTH2_GRANT_REFRESH_TOKEN_ROTATION_GRACE_PERIOD when not zero: how long
	// a used refresh token stays valid. Hydra allows at most 5 minutes.
	RefreshTokenRotationGracePeriod time.Duration
	// Persistent stores Hydra's data in a SQLite file in t.TempDir() (after
	// `hydra migrate sql up`), so that Stop and Start keep clients, consents
	// and tokens. Without it the database is in memory and a restart loses
	// everything: clients must be created again and every token is invalid.
	Persistent bool
	// Subject is the user that the login app logs in; DefaultSubject when
	// empty. The ID token gets it as the email claim. See SetSubject.
	Subject string
	// Env holds more configuration as Hydra environment variables, for
	// example {"STRATEGIES_ACCESS_TOKEN": "jwt"}. It overrides the helper's.
	Env map[string]string
	// Bin is the hydra binary; FindTool("hydra") when empty.
	Bin string
	// Dir holds the log and the SQLite database; a new temporary directory that
	// Close removes when empty.
	Dir string
	// LogLevel is Hydra's LOG_LEVEL; "info" when empty.
	LogLevel string
}

// Hydra is an Ory Hydra server on loopback with an in-process login and
// consent app. NewHydra starts one; Close stops it and removes its files.
type Hydra struct {
	// PublicURL is the base of the public API (authorize, token, revoke,
	// discovery), http://127.0.0.1:<port>.
	PublicURL string
	// AdminURL is the base of the admin API, http://127.0.0.1:<port>. It has
	// no authentication and is bound to 127.0.0.1.
	AdminURL string
	// Issuer is the issuer as the discovery document states it.
	Issuer string
	// AuthURL and TokenURL are the authorization and token endpoints.
	AuthURL, TokenURL string
	// RevokeURL is the RFC 7009 revocation endpoint.
	RevokeURL string
	// LoginAppURL is the base of the in-process login and consent app.
	LoginAppURL string
	// LogPath is the file that receives Hydra's output; its tail is printed
	// when the test fails.
	LogPath string
	// StartedIn is how long the last start took until Hydra was ready.
	StartedIn time.Duration

	proc   *process
	app    *httptest.Server
	dsn    string
	tmp    string
	ownTmp bool
	// Logf receives the login and consent app's errors (nothing when nil).
	Logf func(format string, args ...any)

	mu       sync.Mutex
	deny     bool
	subject  string
	consents int
}

// NewHydra starts `hydra serve all --dev --sqa-opt-out` on random ports of
// 127.0.0.1, with a random system secret (in the environment), and a login and
// consent app that logs in opts.Subject and grants every requested scope and
// audience (see SetDeny). It waits for <admin>/health/ready and reads the
// discovery document. Stop it with Close.
func NewHydra(opts HydraOptions) (*Hydra, error) {
	if opts.Bin == "" {
		bin, err := FindTool("hydra")
		if err != nil {
			return nil, err
		}
		opts.Bin = bin
	}
	h := &Hydra{subject: cmp.Or(opts.Subject, DefaultSubject), dsn: "memory"}
	var home string
	var err error
	if h.tmp, home, h.ownTmp, err = workDir(opts.Dir, "testenv-hydra-"); err != nil {
		return nil, err
	}
	h.LogPath = filepath.Join(h.tmp, "hydra.log")
	h.app = httptest.NewServer(http.HandlerFunc(h.serveApp))
	h.LoginAppURL = h.app.URL
	if opts.Persistent {
		h.dsn = "sqlite://" + filepath.Join(h.tmp, "hydra.sqlite") + "?_fk=true"
	}
	env := h.env(home, opts)
	h.proc = &process{name: "hydra", path: opts.Bin, env: env, dir: h.tmp, logPath: h.LogPath,
		args: []string{"serve", "all", "--dev", "--sqa-opt-out"}}
	if opts.Persistent {
		if err := h.migrate(); err != nil {
			h.Close()
			return nil, err
		}
	}
	if err := h.startFresh(env); err != nil {
		h.Close()
		return nil, fmt.Errorf("testenv: starting hydra: %w", err)
	}
	return h, nil
}

// env returns Hydra's environment for opts (ports and URLs are added by startFresh).
func (h *Hydra) env(home string, opts HydraOptions) []string {
	env := append(baseEnv(home),
		"DSN="+h.dsn,
		"SECRETS_SYSTEM="+randomHex(24),
		"SERVE_PUBLIC_HOST=127.0.0.1",
		"SERVE_ADMIN_HOST=127.0.0.1",
		"URLS_LOGIN="+h.app.URL+"/login",
		"URLS_CONSENT="+h.app.URL+"/consent",
		"LOG_LEVEL="+cmp.Or(opts.LogLevel, "info"),
	)
	for k, d := range map[string]time.Duration{
		"TTL_ACCESS_TOKEN":  opts.AccessTokenTTL,
		"TTL_REFRESH_TOKEN": opts.RefreshTokenTTL,
		"TTL_ID_TOKEN":      opts.IDTokenTTL,
		"TTL_AUTH_CODE":     opts.AuthCodeTTL,
		"OAUTH2_GRANT_REFRESH_TOKEN_ROTATION_GRACE_PERIOD": opts.RefreshTokenRotationGracePeriod,
	} {
		if d > 0 {
			env = append(env, k+"="+hydraDuration(d))
		}
	}
	for k, v := range opts.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// startFresh starts Hydra on new random ports, retrying when a port is taken.
func (h *Hydra) startFresh(env []string) error {
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		pub, err1 := FreePort()
		adm, err2 := FreePort()
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if pub == adm {
			continue
		}
		h.PublicURL = "http://127.0.0.1:" + strconv.Itoa(pub)
		h.AdminURL = "http://127.0.0.1:" + strconv.Itoa(adm)
		h.proc.env = append(env[:len(env):len(env)],
			"SERVE_PUBLIC_PORT="+strconv.Itoa(pub),
			"SERVE_ADMIN_PORT="+strconv.Itoa(adm),
			"URLS_SELF_ISSUER="+h.PublicURL,
			"URLS_SELF_PUBLIC="+h.PublicURL,
			"URLS_SELF_ADMIN="+h.AdminURL,
		)
		if err = h.launch(); !errors.Is(err, errAddrInUse) {
			return err
		}
	}
	return err
}

// Close stops Hydra and the login app, and removes the temporary directory
// NewHydra made.
func (h *Hydra) Close() {
	if h.proc != nil {
		h.proc.stop(10 * time.Second)
	}
	h.app.Close()
	if h.ownTmp {
		_ = os.RemoveAll(h.tmp)
	}
}

// StartHydra starts Hydra for the test (see NewHydra). It stops in t.Cleanup,
// the tail of its log is printed when the test fails, and the login app's
// errors go to the test log.
func StartHydra(t testing.TB, opts HydraOptions) *Hydra {
	t.Helper()
	opts.Bin, opts.Dir = Binary(t, "hydra"), t.TempDir()
	h, err := NewHydra(opts)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	h.Logf = t.Logf
	manage(t, "hydra", h.LogPath, h.Close)
	t.Logf("testenv: hydra ready (public %s, admin %s, dsn %s) in %s", h.PublicURL, h.AdminURL, h.dsn, h.StartedIn.Round(time.Millisecond))
	return h
}

// migrate runs `hydra migrate sql up -e --yes` on the SQLite database.
func (h *Hydra) migrate() error {
	logf, err := os.OpenFile(h.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== testenv: hydra migrate sql up -e --yes\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.proc.path, "migrate", "sql", "up", "-e", "--yes")
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = h.proc.env, h.proc.dir, logf, logf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hydra migrate sql up: %v; log %s:\n%s", err, h.LogPath, tailFile(h.LogPath, 40))
	}
	return nil
}

// launch starts Hydra with the current env and waits until it is ready.
func (h *Hydra) launch() error {
	start := time.Now()
	if err := h.proc.start(); err != nil {
		return err
	}
	err := h.proc.waitReady(hydraReadyTimeout, func() error {
		code, err := httpStatus(h.AdminURL + "/health/ready")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("health/ready: %d", code)
		}
		if err == nil {
			// The public listener starts separately; wait for it too.
			code, err = httpStatus(h.PublicURL + "/health/ready")
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("public health/ready: %d", code)
			}
		}
		return err
	})
	if err != nil {
		h.proc.stop(5 * time.Second)
		return err
	}
	var disc struct {
		Issuer                string `json:"issuer"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
		RevocationEndpoint    string `json:"revocation_endpoint"`
		JWKSURI               string `json:"jwks_uri"`
	}
	if err := doJSON(http.MethodGet, h.PublicURL+"/.well-known/openid-configuration", nil, &disc, http.StatusOK); err != nil {
		h.proc.stop(5 * time.Second)
		return fmt.Errorf("discovery: %w", err)
	}
	if err := warmJWKS(disc.JWKSURI); err != nil {
		h.proc.stop(5 * time.Second)
		return err
	}
	h.Issuer, h.AuthURL, h.TokenURL, h.RevokeURL = disc.Issuer, disc.AuthorizationEndpoint, disc.TokenEndpoint, disc.RevocationEndpoint
	h.StartedIn = time.Since(start)
	return nil
}

// warmJWKS fetches the JWKS once: the first fetch makes Hydra generate its signing keys,
// which takes seconds on a busy machine, so do it now rather than inside a test's token
// verification. On a loaded machine Hydra may drop that first request (EOF) while it
// generates; it is asked again, up to five times.
func warmJWKS(uri string) error {
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		var jwks struct {
			Keys []json.RawMessage `json:"keys"`
		}
		err = doJSON(http.MethodGet, uri, nil, &jwks, http.StatusOK)
		if err == nil && len(jwks.Keys) > 0 {
			return nil
		}
		if err == nil {
			err = errors.New("no keys")
		}
		time.Sleep(time.Duration(attempt) * 500 * time.Millisecond)
	}
	return fmt.Errorf("jwks: %v", err)
}

// Stop stops Hydra and waits until it has exited; its ports then refuse
// connections. The login app keeps running.
func (h *Hydra) Stop() {
	h.proc.stop(10 * time.Second)
}

// Start starts a stopped Hydra again on the same ports, with the same system
// secret and configuration. Without HydraOptions.Persistent the database was
// in memory, so it starts empty. Start waits up to a minute for the ports.
func (h *Hydra) Start() error { return relaunch(h.proc, h.launch) }

// Restart is Stop followed by Start.
func (h *Hydra) Restart() error {
	h.Stop()
	return h.Start()
}

// SetDeny switches the consent app: with deny true it rejects every consent
// request with error=access_denied, which Hydra passes to the client's
// redirect URI; with false it grants again.
func (h *Hydra) SetDeny(deny bool) {
	h.mu.Lock()
	h.deny = deny
	h.mu.Unlock()
}

// SetSubject changes the user that the login app logs in from now on.
func (h *Hydra) SetSubject(subject string) {
	h.mu.Lock()
	h.subject = subject
	h.mu.Unlock()
}

// ConsentCount returns how many consent requests the app has answered
// (granted or denied), that is how many browser authorizations reached it.
func (h *Hydra) ConsentCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.consents
}

// serveApp is the login and consent app.
func (h *Hydra) serveApp(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	deny, subject := h.deny, h.subject
	h.mu.Unlock()
	admin := h.AdminURL + "/admin/oauth2/auth/requests"
	var redirect struct {
		RedirectTo string `json:"redirect_to"`
	}
	var err error
	switch r.URL.Path {
	case "/login":
		ch := url.QueryEscape(r.URL.Query().Get("login_challenge"))
		err = doJSON(http.MethodPut, admin+"/login/accept?login_challenge="+ch,
			map[string]any{"subject": subject, "remember": false}, &redirect, http.StatusOK)
	case "/consent":
		ch := url.QueryEscape(r.URL.Query().Get("consent_challenge"))
		var req struct {
			RequestedScope    []string `json:"requested_scope"`
			RequestedAudience []string `json:"requested_access_token_audience"`
			Subject           string   `json:"subject"`
		}
		if err = doJSON(http.MethodGet, admin+"/consent?consent_challenge="+ch, nil, &req, http.StatusOK); err != nil {
			break
		}
		h.mu.Lock()
		h.consents++
		h.mu.Unlock()
		if deny {
			err = doJSON(http.MethodPut, admin+"/consent/reject?consent_challenge="+ch, map[string]any{
				"error":             "access_denied",
				"error_description": "The resource owner denied the request",
				"status_code":       http.StatusForbidden,
			}, &redirect, http.StatusOK)
			break
		}
		err = doJSON(http.MethodPut, admin+"/consent/accept?consent_challenge="+ch, map[string]any{
			"grant_scope":                 req.RequestedScope,
			"grant_access_token_audience": req.RequestedAudience,
			"remember":                    false,
			"session": map[string]any{
				"id_token": map[string]any{"email": req.Subject, "email_verified": true},
			},
		}, &redirect, http.StatusOK)
	default:
		http.NotFound(w, r)
		return
	}
	if err == nil && redirect.RedirectTo == "" {
		err = errors.New("hydra returned no redirect_to")
	}
	if err != nil {
		if h.Logf != nil {
			h.Logf("testenv: login/consent app %s: %v", r.URL.Path, err)
		}
		http.Error(w, "testenv login/consent app: "+err.Error(), http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, redirect.RedirectTo, http.StatusFound)
}

// ClientSpec describes an OAuth2 client for [Hydra.CreateClient].
type ClientSpec struct {
	// RedirectURIs are the allowed redirect URIs.
	RedirectURIs []string
	// Scopes the client may request; default openid, offline_access, email
	// and profile.
	Scopes []string
	// GrantTypes; default authorization_code and refresh_token.
	GrantTypes []string
	// ResponseTypes; default code.
	ResponseTypes []string
	// TokenEndpointAuthMethod is client_secret_basic (the default),
	// client_secret_post or none (a public client).
	TokenEndpointAuthMethod string
	// Audience the client may request.
	Audience []string
	// Name is the client_name; default "testenv".
	Name string
	// JWKS holds the client's public keys (a JSON Web Key Set), for private_key_jwt.
	JWKS json.RawMessage
	// TokenEndpointAuthSigningAlg is the algorithm of its client assertions (RS256, ES256).
	TokenEndpointAuthSigningAlg string
}

// CreateClient registers a client through POST <admin>/admin/clients and
// returns its ID and secret (the secret is empty for a public client); it
// fails the test on errors. See NewClient.
func (h *Hydra) CreateClient(t testing.TB, spec ClientSpec) (clientID, clientSecret string) {
	t.Helper()
	id, secret, err := h.NewClient(spec)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return id, secret
}

// NewClient registers a client through POST <admin>/admin/clients and returns
// its ID and secret (the secret is empty for a public client).
func (h *Hydra) NewClient(spec ClientSpec) (clientID, clientSecret string, err error) {
	body := map[string]any{
		"client_name":                cmp.Or(spec.Name, "testenv"),
		"redirect_uris":              orDefault(spec.RedirectURIs, []string{}),
		"scope":                      strings.Join(orDefault(spec.Scopes, []string{"openid", "offline_access", "email", "profile"}), " "),
		"grant_types":                orDefault(spec.GrantTypes, []string{"authorization_code", "refresh_token"}),
		"response_types":             orDefault(spec.ResponseTypes, []string{"code"}),
		"token_endpoint_auth_method": cmp.Or(spec.TokenEndpointAuthMethod, "client_secret_basic"),
		"audience":                   orDefault(spec.Audience, []string{}),
	}
	if len(spec.JWKS) > 0 {
		body["jwks"] = spec.JWKS
		body["token_endpoint_auth_signing_alg"] = spec.TokenEndpointAuthSigningAlg
	}
	var res struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := doJSON(http.MethodPost, h.AdminURL+"/admin/clients", body, &res, http.StatusCreated); err != nil {
		return "", "", fmt.Errorf("creating a hydra client: %w", err)
	}
	return res.ClientID, res.ClientSecret, nil
}

// IntrospectionResult is the answer of Hydra's token introspection (RFC 7662).
type IntrospectionResult struct {
	Active    bool           `json:"active"`
	Scope     string         `json:"scope"`
	ClientID  string         `json:"client_id"`
	Subject   string         `json:"sub"`
	TokenUse  string         `json:"token_use"` // "access_token" or "refresh_token"
	TokenType string         `json:"token_type"`
	Audience  []string       `json:"aud"`
	Issuer    string         `json:"iss"`
	ExpiresAt int64          `json:"exp"` // Unix seconds
	IssuedAt  int64          `json:"iat"` // Unix seconds
	Ext       map[string]any `json:"ext"`
}

// Scopes returns Scope split at spaces.
func (r IntrospectionResult) Scopes() []string { return strings.Fields(r.Scope) }

// Introspect asks POST <admin>/admin/oauth2/introspect about an access or
// refresh token.
func (h *Hydra) Introspect(t testing.TB, token string) IntrospectionResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.AdminURL+"/admin/oauth2/introspect",
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var res IntrospectionResult
	if err := do(req, &res, http.StatusOK); err != nil {
		t.Fatalf("testenv: introspecting a token: %v", err)
	}
	return res
}

// RevokeConsent revokes every consent of subject for every client, through
// DELETE <admin>/admin/oauth2/auth/sessions/consent; Hydra then also revokes
// the access and refresh tokens issued under those consents (as when a user
// removes an app's access at the provider).
func (h *Hydra) RevokeConsent(t testing.TB, subject string) {
	t.Helper()
	q := url.Values{"subject": {subject}, "all": {"true"}}
	if err := doJSON(http.MethodDelete, h.AdminURL+"/admin/oauth2/auth/sessions/consent?"+q.Encode(), nil, nil, http.StatusNoContent); err != nil {
		t.Fatalf("testenv: revoking consent: %v", err)
	}
}

// doJSON sends body as JSON (when not nil) and decodes the answer into out
// (when not nil). It fails when the status is not want.
func doJSON(method, u string, body, out any, want int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	return do(req, out, want)
}

func do(req *http.Request, out any, want int) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, want, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decoding %q: %w", req.Method, req.URL.Path, b, err)
		}
	}
	return nil
}

// hydraDuration formats d as Hydra's configuration schema wants it
// (integer units, such as 90s or 1500ms).
func hydraDuration(d time.Duration) string {
	switch {
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	default:
		return strconv.FormatInt(int64(d), 10) + "ns"
	}
}

func orDefault(v, def []string) []string {
	if len(v) == 0 {
		return def
	}
	return v
}
