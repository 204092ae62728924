package authorize

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/tokens"
)

// TestGooglePreset: the connection names Google's real URLs (so the preset applies) and
// overrides the endpoints to an httptest server that behaves like Google: client in the
// form, PKCE, a refresh token only on the first consent.
func TestGooglePreset(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	f := newFakeProvider(t, "post", "https://accounts.google.com")
	createConn(t, st, f.conn("google-oauth", "https://accounts.google.com", "https://accounts.google.com"), f.secret)

	scope := "https://www.googleapis.com/auth/admin.directory.user.readonly"
	res, b, stdout, stderr, err := runAuthorize(t, st, Options{Name: "google-oauth", Scopes: []string{"openid", "email", scope}})
	if err != nil {
		t.Fatalf("authorize: %v\n%s", err, stderr)
	}
	if page := b.page(t); !strings.Contains(page, "Authorization complete") || !strings.Contains(page, `"google-oauth" is authorized`) {
		t.Errorf("browser page:\n%s", page)
	}
	q := f.lastAuth()
	for k, want := range map[string]string{
		"access_type": "offline", "prompt": "consent", "code_challenge_method": "S256",
		"redirect_uri": res.RedirectURI, "scope": "openid email " + scope, "client_id": f.id,
	} {
		if q.Get(k) != want {
			t.Errorf("authorization request %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if q.Get("nonce") == "" || len(q.Get("state")) != 43 {
		t.Errorf("nonce %q, state %q (want 32 bytes base64url)", q.Get("nonce"), q.Get("state"))
	}
	if tr := f.lastToken(); tr.Form.Get("client_secret") != f.secret || tr.Form.Get("code_verifier") == "" {
		t.Errorf("token request: client_secret in form %v, verifier %q", tr.Form.Get("client_secret") != "", tr.Form.Get("code_verifier"))
	}
	ts, err := st.GetTokens(context.Background(), "google-oauth")
	if err != nil {
		t.Fatal(err)
	}
	if ts.AccessToken != "at-1" || ts.RefreshToken != "rt-1" || ts.Status != authconn.StatusAuthorized || ts.Extra["id_token"] == nil ||
		!slices.Equal(ts.Scopes, []string{"openid", "email", scope}) || ts.AuthorizedAt.IsZero() {
		t.Errorf("stored %+v scopes %v", ts, ts.Scopes)
	}
	if len(res.Warnings) != 0 || !res.HasRefreshToken || res.Provider != "google" || res.Replaced {
		t.Errorf("result %+v", res)
	}
	if stdout.String() != "" {
		t.Errorf("stdout without --no-browser: %q", stdout)
	}
	if !strings.Contains(stderr.String(), "Google Cloud Console") || !strings.Contains(stderr.String(), res.RedirectURI) {
		t.Errorf("stderr lacks the registration hint:\n%s", stderr)
	}
	assertNoSecret(t, "stderr", stderr.String(), f.secret, "at-1", "rt-1")

	// Re-consent: Google sends no refresh token this time. The earlier one is kept, and a
	// warning says what happened.
	f.mu.Lock()
	f.tokenReply = func(grant string, n int, _ url.Values) map[string]any {
		return map[string]any{"access_token": "at-again", "token_type": "Bearer", "expires_in": 3599}
	}
	f.mu.Unlock()
	res, _, _, stderr, err = runAuthorize(t, st, Options{Name: "google-oauth", Scopes: []string{"openid", "email", scope}})
	if err != nil {
		t.Fatalf("second authorize: %v", err)
	}
	if !res.Replaced || !res.KeptRefreshToken || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "no new refresh token") ||
		!strings.Contains(res.Warnings[0], "myaccount.google.com/permissions") {
		t.Errorf("re-consent result %+v", res)
	}
	if !strings.Contains(stderr.String(), "Warning: the provider returned no new refresh token") {
		t.Errorf("stderr lacks the warning:\n%s", stderr)
	}
	ts2, err := st.GetTokens(context.Background(), "google-oauth")
	if err != nil {
		t.Fatal(err)
	}
	if ts2.AccessToken != "at-again" || ts2.RefreshToken != "rt-1" || ts2.Version != ts.Version+1 {
		t.Errorf("after re-consent: access %q refresh %q version %d (was %d)", ts2.AccessToken, ts2.RefreshToken, ts2.Version, ts.Version)
	}
}

// TestNoRefreshTokenOnFirstAuthorizationWarns: a generic provider that issues no refresh
// token; the warning says the connection cannot be refreshed and to add offline_access.
func TestNoRefreshTokenOnFirstAuthorizationWarns(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	f := newFakeProvider(t, "basic", "")
	f.tokenReply = func(string, int, url.Values) map[string]any {
		return map[string]any{"access_token": "only-access", "token_type": "Bearer"}
	}
	createConn(t, st, f.conn("plain", "https://idp.example.com", ""), f.secret)
	res, b, _, stderr, err := runAuthorize(t, st, Options{Name: "plain", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	if page := b.page(t); !strings.Contains(page, "Authorization complete") || !strings.Contains(page, "Warning: the provider returned no refresh token") {
		t.Errorf("page does not carry the warning:\n%s", page)
	}
	if res.HasRefreshToken || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "cannot be refreshed") ||
		!strings.Contains(res.Warnings[0], "add offline_access to the scopes") {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(stderr.String(), "Warning: the provider returned no refresh token") {
		t.Errorf("stderr:\n%s", stderr)
	}
	ts, err := st.GetTokens(context.Background(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	if !ts.ExpiryGuessed || ts.RefreshToken != "" || time.Until(ts.Expiry) > time.Hour {
		t.Errorf("stored %+v", ts)
	}
}

// TestMicrosoftPreset: offline_access is requested, the v2.0 issuer is checked in the ID
// token, and a refresh sends the same scopes (else AADSTS9010010).
func TestMicrosoftPreset(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	const tenant = "contoso.onmicrosoft.com"
	f := newFakeProvider(t, "post", "https://login.microsoftonline.com/"+tenant+"/v2.0")
	createConn(t, st, f.conn("ms365-oauth", "https://login.microsoftonline.com/"+tenant, "https://login.microsoftonline.com/"+tenant+"/v2.0"), f.secret)
	res, b, _, stderr, err := runAuthorize(t, st, Options{Name: "ms365-oauth", Scopes: []string{"openid", "https://graph.microsoft.com/User.Read"}})
	if err != nil {
		t.Fatalf("authorize: %v\n%s", err, stderr)
	}
	b.page(t)
	want := "openid https://graph.microsoft.com/User.Read offline_access"
	if got := f.lastAuth().Get("scope"); got != want {
		t.Errorf("requested scope %q, want %q", got, want)
	}
	if f.lastAuth().Has("prompt") || f.lastAuth().Has("access_type") {
		t.Errorf("Google parameters sent to Microsoft: %v", f.lastAuth())
	}
	if res.Provider != "microsoft" || len(res.Warnings) != 0 {
		t.Errorf("result %+v", res)
	}
	ts, err := st.GetTokens(context.Background(), "ms365-oauth")
	if err != nil {
		t.Fatal(err)
	}
	conn, _ := st.GetConnection(context.Background(), "ms365-oauth")
	oc := &oauth.Client{}
	prov, err := oc.Resolve(context.Background(), &conn.Connection)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := oc.Refresh(context.Background(), prov, oauth.Credentials{ClientID: f.id, ClientSecret: f.secret}, ts.RefreshToken, ts.Scopes)
	if err != nil {
		t.Fatal(err)
	}
	tr := f.lastToken()
	if tr.Form.Get("grant_type") != "refresh_token" || tr.Form.Get("scope") != want || tr.Form.Get("refresh_token") != "rt-1" {
		t.Errorf("refresh request form: grant %q scope %q", tr.Form.Get("grant_type"), tr.Form.Get("scope"))
	}
	if nts := tokens.Refreshed(&ts.TokenSet, tok, 0); nts.RefreshToken != "rt-2" || !slices.Equal(nts.Scopes, ts.Scopes) {
		t.Errorf("refreshed %+v", nts)
	}
}

// TestQuickBooksPreset: realmId from the callback and the refresh-token expiry fields are
// kept, the hard-expiry header is sent, the client authenticates with basic auth, and
// revocation uses Intuit's JSON body.
func TestQuickBooksPreset(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	f := newFakeProvider(t, "basic", "")
	f.callbackExtra = url.Values{"realmId": {"9130357766900456"}}
	f.tokenReply = func(string, int, url.Values) map[string]any {
		return map[string]any{"access_token": "qb-at", "refresh_token": "qb-rt", "token_type": "bearer", "expires_in": 3600,
			"x_refresh_token_expires_in": 8726400, "x_refresh_token_lifetime_expires_in": 157680000}
	}
	createConn(t, st, f.conn("quickbooks-oauth", "https://appcenter.intuit.com/connect/oauth2", "https://oauth.platform.intuit.com/op/v1"), f.secret)
	start := time.Now()
	res, b, _, stderr, err := runAuthorize(t, st, Options{Name: "quickbooks-oauth", Scopes: []string{"com.intuit.quickbooks.accounting"}})
	if err != nil {
		t.Fatalf("authorize: %v\n%s", err, stderr)
	}
	b.page(t)
	if res.CallbackExtras["realmId"] != "9130357766900456" || res.Provider != "quickbooks" {
		t.Errorf("result %+v", res)
	}
	tr := f.lastToken()
	if tr.Header.Get("x-include-refresh-token-hard-expires-in") != "true" || tr.Header.Get("Accept") != "application/json" {
		t.Errorf("token request headers %v", tr.Header)
	}
	if f.lastAuth().Has("nonce") {
		t.Error("nonce sent without openid")
	}
	ts, err := st.GetTokens(context.Background(), "quickbooks-oauth")
	if err != nil {
		t.Fatal(err)
	}
	if ts.CallbackExtras["realmId"] != "9130357766900456" {
		t.Errorf("stored callback extras %v", ts.CallbackExtras)
	}
	rtExp := ts.RefreshTokenExpiry.Sub(start)
	if rtExp < 8726400*time.Second-time.Minute || rtExp > 8726400*time.Second+time.Minute {
		t.Errorf("refresh token expiry %s from now, want ~101 days", rtExp)
	}
	if d := ts.RefreshTokenHardExpiry.Sub(start); d < 157680000*time.Second-time.Minute {
		t.Errorf("hard expiry %s from now", d)
	}
	if ts.Extra["x_refresh_token_expires_in"] == nil {
		t.Errorf("raw response fields not kept: %v", ts.Extra)
	}
	if !strings.Contains(stderr.String(), "Intuit Developer Portal") {
		t.Errorf("stderr:\n%s", stderr)
	}

	// Revocation uses Intuit's JSON body and basic auth.
	conn, _ := st.GetConnection(context.Background(), "quickbooks-oauth")
	oc := &oauth.Client{}
	prov, _ := oc.Resolve(context.Background(), &conn.Connection)
	if err := oc.Revoke(context.Background(), prov, oauth.Credentials{ClientID: f.id, ClientSecret: f.secret}, ts.RefreshToken, "refresh_token"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	rr := f.revokeReqs[len(f.revokeReqs)-1]
	f.mu.Unlock()
	var body map[string]string
	if err := json.Unmarshal([]byte(rr.Body), &body); err != nil || body["token"] != "qb-rt" || rr.Header.Get("Content-Type") != "application/json" || rr.ClientSecret != f.secret {
		t.Errorf("revoke request %q content type %q (err %v)", rr.Body, rr.Header.Get("Content-Type"), err)
	}
}

// TestCallbackErrors covers the failures of the callback and the token exchange, each with
// its next step, and checks that nothing is stored.
func TestCallbackErrors(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	f := newFakeProvider(t, "basic", "")
	createConn(t, st, f.conn("errs", "https://idp.example.com", ""), f.secret)

	for _, deny := range []string{"access_denied", "invalid_scope"} {
		f.mu.Lock()
		f.denyWith = deny
		f.mu.Unlock()
		_, b, _, stderr, err := runAuthorize(t, st, Options{Name: "errs"})
		var ce *CallbackError
		if !errors.As(err, &ce) || ce.Code() != deny {
			t.Fatalf("%s: %v", deny, err)
		}
		next := map[string]string{"access_denied": "approve the request", "invalid_scope": "fix --scopes"}[deny]
		if !strings.Contains(err.Error(), next) {
			t.Errorf("%s: %q lacks the next step %q", deny, err, next)
		}
		if page := b.page(t); !strings.Contains(page, "Authorization failed") || !strings.Contains(page, deny) {
			t.Errorf("%s: page\n%s", deny, page)
		}
		assertNoSecret(t, "stderr", stderr.String(), f.secret)
	}
	f.mu.Lock()
	f.denyWith = ""
	f.mu.Unlock()

	// A refused code (invalid_grant) is reported as such, with the redirect URI hint, and the
	// code reaches the token endpoint once (the endpoints are overrides, so the client
	// authentication style is unknown and x/oauth2 would retry with the other one).
	f.mu.Lock()
	f.failExchange = "invalid_grant"
	before := len(f.tokenReqs)
	f.mu.Unlock()
	_, _, _, _, err := runAuthorize(t, st, Options{Name: "errs"})
	var ge *oauth.Error
	if !errors.As(err, &ge) || ge.Kind != oauth.KindInvalidGrant || !strings.Contains(err.Error(), "redirect URI registered at the provider") {
		t.Errorf("refused code: %v", err)
	}
	f.mu.Lock()
	if n := len(f.tokenReqs) - before; n != 1 {
		t.Errorf("the code was presented %d times", n)
	}
	f.failExchange = ""
	f.mu.Unlock()

	// invalid_client at the token endpoint: the stored secret is wrong.
	if _, err := st.PutClientSecret(context.Background(), "errs", "wrong-secret-value"); err != nil {
		t.Fatal(err)
	}
	_, b, _, _, err := runAuthorize(t, st, Options{Name: "errs"})
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Kind != oauth.KindInvalidClient || !strings.Contains(err.Error(), "check the connection's client_id and its client secret") {
		t.Errorf("invalid_client: %v", err)
	}
	assertNoSecret(t, "error", err.Error(), "wrong-secret-value", f.secret)
	if page := b.page(t); !strings.Contains(page, "invalid_client") || strings.Contains(page, "wrong-secret-value") {
		t.Errorf("invalid_client page:\n%s", page)
	}
	if _, err := st.GetTokens(context.Background(), "errs"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tokens stored after failures: %v", err)
	}

	// Unknown connection.
	_, _, _, _, err = runAuthorize(t, st, Options{Name: "nope"})
	if err == nil || !strings.Contains(err.Error(), "tokend create --name nope") {
		t.Errorf("unknown connection: %v", err)
	}
}

// TestTimeoutAndPortInUse: stray requests to the callback path (no authorization response;
// over localhost, 127.0.0.1 and [::1]) are answered and ignored, and a forged callback from
// another site is refused, without ending the attempt; no callback within the timeout ends
// an attempt with a TimeoutError; a taken port is a PortInUseError.
func TestTimeoutAndPortInUse(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	f := newFakeProvider(t, "basic", "")
	createConn(t, st, f.conn("slow", "https://idp.example.com", ""), f.secret)

	// The requests go out when the browser would open; the attempt ends only when the test
	// cancels it, once every one was answered (no timeout to beat).
	var got strayAnswers
	err := onFreePort(t, func(port int) error {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		answers, opened := make(chan strayAnswers, 1), false
		_, err := Run(ctx, st, Options{Name: "slow", Port: port, OAuth: &oauth.Client{}, Timeout: time.Minute,
			UI: &TextUI{Out: io.Discard, Err: io.Discard, Open: func(string) error {
				opened = true
				go func() { answers <- sendStrays(port); cancel() }()
				return nil
			}}})
		if opened {
			got = <-answers
		}
		return err
	})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelled before the callback arrived") {
		t.Errorf("invariant «stray and forged requests do not end the attempt»: %v", err)
	}
	if got.rebound != http.StatusMisdirectedRequest {
		t.Errorf("forged callback with a foreign Host: status %d, want 421", got.rebound)
	}
	if len(got.stray) < 2 {
		t.Errorf("stray requests: %d answered, want one over localhost and one over 127.0.0.1 at least", len(got.stray))
	}
	for _, body := range got.stray {
		if !strings.Contains(body, "Waiting for the provider") {
			t.Errorf("stray request page:\n%s", body)
		}
	}

	start := time.Now()
	err = onFreePort(t, func(port int) error {
		_, _, _, _, err := runAuthorize(t, st, Options{Name: "slow", Port: port, Timeout: 1500 * time.Millisecond,
			UI: &TextUI{Open: func(string) error { return nil }}})
		return err
	})
	var te *TimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "--timeout") || time.Since(start) < 1500*time.Millisecond {
		t.Errorf("timeout: %v after %s", err, time.Since(start))
	}

	l, err := netListen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := portOf(l)
	_, _, _, _, err = runAuthorize(t, st, Options{Name: "slow", Port: taken})
	var pe *PortInUseError
	if !errors.As(err, &pe) || pe.Port != taken || !strings.Contains(err.Error(), "--port") {
		t.Errorf("port in use: %v", err)
	}
}

// strayAnswers is what the callback server answered a forged callback (its status) and
// stray requests (each URL with its page, or the error).
type strayAnswers struct {
	rebound int
	stray   []string
}

// sendStrays sends the callback server on port a forged callback from another site (DNS
// rebinding: Host is not localhost), then a request without an authorization response to
// the callback path over localhost, 127.0.0.1 and, when this host has IPv6 loopback,
// [::1]; it returns the answers.
func sendStrays(port int) strayAnswers {
	client := &http.Client{Timeout: 10 * time.Second}
	var out strayAnswers
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/callback?state=forged&code=forged", port), nil)
	req.Host = fmt.Sprintf("attacker.example:%d", port)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		out.rebound = resp.StatusCode
	}
	targets := []string{RedirectURI(port), fmt.Sprintf("http://127.0.0.1:%d/callback", port)}
	if l6, err := netListen("tcp6", "[::1]:0"); err == nil {
		l6.Close()
		targets = append(targets, fmt.Sprintf("http://[::1]:%d/callback", port))
	}
	for _, u := range targets {
		resp, err := client.Get(u)
		if err != nil {
			out.stray = append(out.stray, u+": "+err.Error())
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out.stray = append(out.stray, u+": "+string(body))
	}
	return out
}

// onFreePort runs f with a free port, and again with another (five tries in all) when
// another process took the port before f could listen on it.
func onFreePort(t *testing.T, f func(port int) error) error {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		err := f(port)
		var pe *PortInUseError
		if !errors.As(err, &pe) || pe.Port != port || attempt == 5 {
			return err
		}
		t.Logf("port %d was taken before the callback server listened on it; trying another", port)
	}
}
