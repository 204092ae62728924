package imitate

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// tokenRules are how a provider's token endpoint checks a request, as documented.
type tokenRules struct {
	// auth is the documented client authentication; strictAuth refuses the other one.
	auth       clientAuth
	strictAuth bool
	// body is the request body's documented encoding; queryParams: the parameters may come
	// in the URL's query instead.
	body        bodyKind
	queryParams bool
	// codeExtra and refreshExtra are parameters the code exchange and the refresh must
	// carry, with these values.
	codeExtra, refreshExtra map[string]string
	// impliedGrant is the grant type of a request without grant_type ("" when required).
	impliedGrant string
	// noRedirect: the code exchange carries no redirect_uri.
	noRedirect bool
	// rotates: a refresh answers with a new refresh token, and retires the old one unless
	// oldRefreshValid.
	rotates, oldRefreshValid bool
	// clientCredentials: the client credentials grant is served (app-only tokens).
	clientCredentials bool
	// oldAccessValid: the previous access token keeps working after a refresh.
	oldAccessValid bool
	// reuseRevokes: a second use of a code revokes the tokens minted from it (RFC 6749
	// section 4.1.2), where the provider documents it.
	reuseRevokes bool
	// prefix starts every token, as the provider's tokens look ("xoxe.xoxp-1-", ...).
	accessPrefix, refreshPrefix string
	// accessFormat, when set, makes the access token itself (a JWT with the grant's claims).
	accessFormat func(g *grant) string
}

// bodyKind is the encoding of a token request's body.
type bodyKind int

const (
	bodyForm bodyKind = iota
	bodyJSON
	bodyFormOrJSON
)

// clientAuth is how a client authenticates to the token endpoint.
type clientAuth int

const (
	authBody clientAuth = iota
	authBasic
)

func (a clientAuth) String() string {
	if a == authBasic {
		return "basic"
	}
	return "body"
}

// reason is why the token endpoint refused a request; each provider maps it to its own error.
type reason int

const (
	reasonEncoding reason = iota + 1
	reasonMissing
	reasonGrantType
	reasonAuthMethod
	reasonClientID
	reasonSecret
	reasonCodeUnknown
	reasonCodeUsed
	reasonRedirect
	reasonVerifier
	reasonRefreshUnknown
	reasonRefreshExpired
	reasonRefreshRevoked
)

// flowError is a refused token request: the reason and a description.
type flowError struct {
	reason reason
	desc   string
}

func (e *flowError) Error() string { return e.desc }

// rfc6749 returns the RFC 6749 section 5.2 error code for the reason.
func (e *flowError) rfc6749() string {
	switch e.reason {
	case reasonEncoding, reasonMissing:
		return "invalid_request"
	case reasonGrantType:
		return "unsupported_grant_type"
	case reasonAuthMethod, reasonClientID, reasonSecret:
		return "invalid_client"
	}
	return "invalid_grant"
}

// grant is one user's consent: what a code, and the tokens minted from it, stand for.
type grant struct {
	clientID, redirectURI string
	scopes                []string
	challenge, method     string
	// nonce is the authorization request's OpenID Connect nonce, for the ID token.
	nonce string
	// extra is what the provider attached (realmId, a chosen site, ...).
	extra map[string]string
}

type codeEntry struct {
	g    *grant
	used bool
}

// ended says why a token stopped working.
type ended int

const (
	endNone ended = iota
	endExpired
	endRevoked
	endRotated
	endReplaced
)

type tokenEntry struct {
	g     *grant
	ended ended
}

// issued is the outcome of a successful token request.
type issued struct {
	g               *grant
	access, refresh string
	// refreshed: a refresh (not a code exchange); rotated: refresh is a new token.
	refreshed, rotated bool
	params             url.Values
}

// exchange runs the token endpoint's checks on r (body encoding, client authentication,
// grant type and its parameters) and mints the tokens.
func (im *Imitation) exchange(r *http.Request) (*issued, *flowError) {
	tr := im.p.token
	params, ferr := readParams(r, tr.body)
	if ferr != nil && tr.queryParams && r.URL.RawQuery != "" && r.ContentLength <= 0 {
		params, ferr = r.URL.Query(), nil
	}
	if ferr != nil {
		return nil, ferr
	}
	if ferr := im.authenticate(r, params); ferr != nil {
		return nil, ferr
	}
	gt := params.Get("grant_type")
	if gt == "" {
		gt = tr.impliedGrant
	}
	switch gt {
	case "authorization_code":
		if ferr := requireParams(params, tr.codeExtra, "code"); ferr != nil {
			return nil, ferr
		}
		return im.redeem(params)
	case "refresh_token":
		if ferr := requireParams(params, tr.refreshExtra, "refresh_token"); ferr != nil {
			return nil, ferr
		}
		return im.renew(params)
	case "client_credentials":
		if !tr.clientCredentials {
			return nil, &flowError{reasonGrantType, "unsupported grant_type " + gt}
		}
		return im.appOnly(params), nil
	case "":
		return nil, &flowError{reasonMissing, "missing parameter grant_type"}
	default:
		return nil, &flowError{reasonGrantType, "unsupported grant_type " + gt}
	}
}

// readParams reads the body as a form, or as a JSON object of strings and numbers.
func readParams(r *http.Request, kind bodyKind) (url.Values, *flowError) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method != http.MethodPost {
		return nil, &flowError{reasonEncoding, "the token endpoint takes POST"}
	}
	if kind == bodyForm || kind == bodyFormOrJSON && ct != "application/json" {
		if ct != "application/x-www-form-urlencoded" {
			return nil, &flowError{reasonEncoding, "the body must be application/x-www-form-urlencoded"}
		}
		if err := r.ParseForm(); err != nil {
			return nil, &flowError{reasonEncoding, "the body is not a form"}
		}
		return r.PostForm, nil
	}
	var body map[string]any
	if ct != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil {
		return nil, &flowError{reasonEncoding, "the body must be a JSON object"}
	}
	out := url.Values{}
	for k, v := range body {
		switch v := v.(type) {
		case string:
			out.Set(k, v)
		case float64:
			out.Set(k, fmt.Sprint(v))
		}
	}
	return out, nil
}

// authenticate checks the client's credentials and where they came, as documented.
func (im *Imitation) authenticate(r *http.Request, params url.Values) *flowError {
	tr := im.p.token
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = params.Get("client_id"), params.Get("client_secret")
	}
	switch {
	case tr.strictAuth && basic != (tr.auth == authBasic):
		return &flowError{reasonAuthMethod, "client authentication must be " + tr.auth.String()}
	case id == "":
		return &flowError{reasonClientID, "no client_id"}
	case id != im.Want.ClientID:
		return &flowError{reasonClientID, "unknown client_id"}
	case secret != im.Want.ClientSecret:
		return &flowError{reasonSecret, "wrong client_secret"}
	}
	return nil
}

// requireParams checks that each name is present and each extra carries its value.
func requireParams(params url.Values, extra map[string]string, names ...string) *flowError {
	for _, k := range names {
		if params.Get(k) == "" {
			return &flowError{reasonMissing, "missing parameter " + k}
		}
	}
	for k, v := range extra {
		if params.Get(k) != v {
			return &flowError{reasonMissing, fmt.Sprintf("parameter %s must be %q", k, v)}
		}
	}
	return nil
}

// redeem exchanges a code once, checking the redirect URI and the PKCE verifier.
func (im *Imitation) redeem(params url.Values) (*issued, *flowError) {
	im.mu.Lock()
	defer im.mu.Unlock()
	c := im.codes[params.Get("code")]
	switch {
	case c == nil || c.g.clientID != im.Want.ClientID:
		return nil, &flowError{reasonCodeUnknown, "unknown authorization code"}
	case c.used:
		if im.p.token.reuseRevokes {
			im.endGrant(c.g, endRevoked)
		}
		return nil, &flowError{reasonCodeUsed, "the authorization code was already used"}
	case !im.p.token.noRedirect && params.Get("redirect_uri") != c.g.redirectURI:
		return nil, &flowError{reasonRedirect, "redirect_uri does not match the authorization request"}
	case im.p.auth.pkce != pkceIgnored && !c.g.verifies(params.Get("code_verifier")):
		return nil, &flowError{reasonVerifier, "code_verifier does not match the code_challenge"}
	}
	c.used = true
	return &issued{g: c.g, access: im.mint(c.g, false), refresh: im.mint(c.g, true), rotated: true, params: params}, nil
}

// renew refreshes: a new access token, and a new refresh token when the provider rotates.
func (im *Imitation) renew(params url.Values) (*issued, *flowError) {
	im.mu.Lock()
	defer im.mu.Unlock()
	tr, rt := im.p.token, params.Get("refresh_token")
	e := im.refresh[rt]
	switch {
	case e == nil || e.g.clientID != im.Want.ClientID:
		return nil, &flowError{reasonRefreshUnknown, "unknown refresh token"}
	case e.ended == endExpired:
		return nil, &flowError{reasonRefreshExpired, "the refresh token expired"}
	case e.ended != endNone:
		return nil, &flowError{reasonRefreshRevoked, "the refresh token was revoked"}
	}
	if !tr.oldAccessValid {
		for _, a := range im.access {
			if a.g == e.g && a.ended == endNone {
				a.ended = endReplaced
			}
		}
	}
	out := &issued{g: e.g, access: im.mint(e.g, false), refresh: rt, refreshed: true, params: params}
	if tr.rotates {
		if !tr.oldRefreshValid {
			e.ended = endRotated
		}
		out.refresh, out.rotated = im.mint(e.g, true), true
	}
	return out, nil
}

// appOnly mints an access token for the client itself (no user, no refresh token); the
// scopes are the requested ones, for the provider's handler to check.
func (im *Imitation) appOnly(params url.Values) *issued {
	im.mu.Lock()
	defer im.mu.Unlock()
	g := &grant{clientID: im.Want.ClientID, scopes: strings.Fields(params.Get("scope")), extra: map[string]string{"app": "true"}}
	return &issued{g: g, access: im.mint(g, false), params: params}
}

// issueCode keeps g under a new single-use code.
func (im *Imitation) issueCode(g *grant) string {
	im.mu.Lock()
	defer im.mu.Unlock()
	code := randomToken("")
	im.codes[code] = &codeEntry{g: g}
	return code
}

// mint makes a new access or refresh token for g; im.mu is held.
func (im *Imitation) mint(g *grant, refresh bool) string {
	if refresh {
		t := randomToken(im.p.token.refreshPrefix)
		im.refresh[t] = &tokenEntry{g: g}
		return t
	}
	t := randomToken(im.p.token.accessPrefix)
	if f := im.p.token.accessFormat; f != nil {
		t = f(g)
	}
	im.access[t] = &tokenEntry{g: g}
	return t
}

// endGrant ends every token of g; im.mu is held.
func (im *Imitation) endGrant(g *grant, why ended) {
	for _, m := range []map[string]*tokenEntry{im.access, im.refresh} {
		for _, e := range m {
			if e.g == g && e.ended == endNone {
				e.ended = why
			}
		}
	}
}

// revoke ends token (access or refresh) and, when revokeGrant, every token of its grant;
// it reports whether the token was known.
func (im *Imitation) revoke(token string, revokeGrant bool) bool {
	im.mu.Lock()
	defer im.mu.Unlock()
	e := im.access[token]
	if e == nil {
		e = im.refresh[token]
	}
	if e == nil {
		return false
	}
	e.ended = endRevoked
	if revokeGrant {
		im.endGrant(e.g, endRevoked)
	}
	return true
}

// granted returns the grant of a valid access token, or nil.
func (im *Imitation) granted(token string) *grant {
	im.mu.Lock()
	defer im.mu.Unlock()
	if e := im.access[token]; e != nil && e.ended == endNone {
		return e.g
	}
	return nil
}

// bearer returns the grant of the request's valid Bearer token, or nil.
func (im *Imitation) bearer(r *http.Request) *grant {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	return im.granted(token)
}

func randomToken(prefix string) string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeRFC6749 answers an RFC 6749 section 5.2 error: 400 (401 for invalid_client) and
// {"error", "error_description"}.
func writeRFC6749(w http.ResponseWriter, e *flowError) {
	status := http.StatusBadRequest
	if e.rfc6749() == "invalid_client" {
		status = http.StatusUnauthorized
	}
	writeJSON(w, status, map[string]string{"error": e.rfc6749(), "error_description": e.desc})
}

// scopeString joins a grant's scopes with sep.
func (g *grant) scopeString(sep string) string { return strings.Join(g.scopes, sep) }

// idToken makes an ID token for the grant as OpenID Connect Core 1.0 section 2 describes
// it (https://openid.net/specs/openid-connect-core-1_0.html#IDToken): iss, sub, aud (the
// client), exp, iat, and the authorization request's nonce when it had one. The signature
// is not a real one: clients check ID tokens from the token endpoint by TLS (section
// 3.1.3.7).
func idToken(issuer, subject string, g *grant) string {
	now := time.Now().Unix()
	claims := map[string]any{"iss": issuer, "sub": subject, "aud": g.clientID, "iat": now, "exp": now + 300}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	body, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(body) + "." + enc.EncodeToString([]byte(randomToken("")))
}

// cutPrefixFold is strings.CutPrefix, ignoring case in the prefix.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}
