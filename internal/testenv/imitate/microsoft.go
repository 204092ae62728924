package imitate

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// Microsoft imitates the Microsoft identity platform (v2.0 endpoints, one work tenant) for
// Microsoft Graph: the authorization code flow with delegated permissions, and the client
// credentials flow with application permissions. Written from:
//   - https://learn.microsoft.com/ka-ge/entra/identity-platform/v2-oauth2-client-creds-grant-flow
//     (client credentials: permissions granted to the application by an administrator; never
//     a refresh token)
//   - https://docs.azure.cn/en-us/Entra/identity-platform/scenario-daemon-acquire-token (the
//     scope of a client credentials request is the resource followed by /.default)
//   - https://learn.microsoft.com/zh-cn/entra/identity-platform/scopes-oidc (scopes without a
//     resource mean Microsoft Graph: User.Read is https://graph.microsoft.com/User.Read)
//   - https://learn.microsoft.com/pl-pl/javascript/api/@azure/msal-common/serverauthorizationtokenresponse?view=msal-js-latest
//     (the token answer: token_type, scope, expires_in, ext_expires_in, access_token,
//     refresh_token, id_token; errors: error, error_description, error_codes, timestamp, trace_id)
//   - https://nango.dev/blog/microsoft-oauth-refresh-token-invalid-grant and
//     https://learn.microsoft.com/en-us/answers/questions/1329148/refresh-token-400-invalid-grant-error-after-access
//     (POST https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token; refresh failures are
//     400 invalid_grant with an AADSTS code; work accounts take only space-separated scopes)
//
// A refresh answers with a new refresh token; the old one keeps working. /me needs a
// delegated token; /users takes an app-only token with User.Read.All.
func Microsoft(t testing.TB) *Imitation { return start(t, microsoft()) }

const graphScope = "https://graph.microsoft.com/"

// MicrosoftGraphApp is the same identity platform seen by a daemon with Microsoft Graph
// application permissions, as https://learn.microsoft.com/en-us/graph/auth-v2-service and the
// client credentials pages above describe it: it asks for https://graph.microsoft.com/.default
// and checks its token at AppAPICheck (/users), since /me needs a signed-in user.
func MicrosoftGraphApp(t testing.TB) *Imitation { return start(t, microsoftGraphApp()) }

func microsoftGraphApp() *provider {
	p := microsoft()
	p.name = "microsoft-graph-app"
	p.want.AppOnly = true
	p.want.Scopes = []string{graphScope + ".default"}
	return p
}

func microsoft() *provider {
	tenant := "72f988bf-86f1-41af-91ab-2d7cd011db47"
	p := &provider{
		name:  "microsoft",
		hosts: []string{"login.microsoftonline.com", "graph.microsoft.com"},
		want: Want{ClientID: "6731de76-14a6-49ae-97bc-6eba6914391e", ClientSecret: "ms~client~secret",
			RedirectURI: "https://app.example.test/callback", Scopes: []string{"offline_access", "User.Read", "Mail.Read"},
			Params: map[string]string{"tenant": tenant}, Metadata: map[string]string{},
			APIBase: "https://graph.microsoft.com/v1.0", APICheck: "https://graph.microsoft.com/v1.0/me",
			AppAPICheck: "https://graph.microsoft.com/v1.0/users"},
		auth: authRules{host: "login.microsoftonline.com", path: "/" + tenant + "/oauth2/v2.0/authorize", scopeSeps: " ",
			required: []string{"scope"}, fixed: map[string]string{"response_mode": "query"},
			scopes: []string{"openid", "profile", "email", "offline_access", "User.Read", "Mail.Read", "Mail.Send",
				graphScope + "User.Read", graphScope + "Mail.Read", graphScope + "Mail.Send"}, pkce: pkceOptional},
		token:  tokenRules{auth: authBody, rotates: true, oldRefreshValid: true, oldAccessValid: true, clientCredentials: true},
		tenant: func(int) Tenant { return Tenant{ID: tenant, Name: "Contoso"} },
	}
	p.routes = func(im *Imitation, mux *http.ServeMux) {
		mux.HandleFunc("POST login.microsoftonline.com/"+tenant+"/oauth2/v2.0/token", im.microsoftToken)
		mux.HandleFunc("GET graph.microsoft.com/v1.0/me", im.graphMe)
		mux.HandleFunc("GET graph.microsoft.com/v1.0/users", im.graphUsers)
	}
	return p
}

// microsoftError answers the identity platform's error body with an AADSTS code.
func microsoftError(w http.ResponseWriter, status int, code string, aadsts int, msg string) {
	now := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	trace := randomToken("")[:32]
	writeJSON(w, status, map[string]any{"error": code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Timestamp: %s", aadsts, msg, trace, now),
		"error_codes":       []int{aadsts}, "timestamp": now, "trace_id": trace, "correlation_id": randomToken("")[:32],
		"error_uri": fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts)})
}

// microsoftFailure is how the identity platform answers a refused token request.
type microsoftFailure struct {
	status int
	code   string
	aadsts int
	msg    string
}

// microsoftReason returns the identity platform's answer for a reason.
func microsoftReason(r reason) microsoftFailure {
	return map[reason]microsoftFailure{
		reasonEncoding:       {400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."},
		reasonMissing:        {400, "invalid_request", 900144, "The request body must contain a required parameter."},
		reasonGrantType:      {400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."},
		reasonAuthMethod:     {401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."},
		reasonClientID:       {400, "unauthorized_client", 700016, "Application was not found in the directory."},
		reasonSecret:         {401, "invalid_client", 7000215, "Invalid client secret provided."},
		reasonCodeUnknown:    {400, "invalid_grant", 70000, "The provided value for the 'code' parameter is not valid."},
		reasonCodeUsed:       {400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed."},
		reasonRedirect:       {400, "invalid_grant", 70000, "The redirect URI does not match the one in the authorization request."},
		reasonVerifier:       {400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request."},
		reasonRefreshUnknown: {400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."},
		reasonRefreshExpired: {400, "invalid_grant", 700082, "The refresh token has expired due to inactivity."},
		reasonRefreshRevoked: {400, "invalid_grant", 50173, "The provided grant has expired due to it being revoked."},
	}[r]
}

func (im *Imitation) microsoftToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		e := microsoftReason(ferr.reason)
		microsoftError(w, e.status, e.code, e.aadsts, e.msg)
		return
	}
	if is.g.extra["app"] != "" {
		im.microsoftAppToken(w, is)
		return
	}
	body := map[string]any{"token_type": "Bearer", "scope": is.g.scopeString(" "), "expires_in": 3599,
		"ext_expires_in": 3599, "access_token": is.access}
	if slices.Contains(is.g.scopes, "offline_access") {
		body["refresh_token"] = is.refresh
	}
	if slices.Contains(is.g.scopes, "openid") {
		body["id_token"] = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.e30."
	}
	writeJSON(w, http.StatusOK, body)
}

// microsoftAppToken answers a client credentials request: its one scope must be a
// resource's /.default, and the token carries the application permissions an admin granted.
func (im *Imitation) microsoftAppToken(w http.ResponseWriter, is *issued) {
	if len(is.g.scopes) != 1 || !strings.HasSuffix(is.g.scopes[0], "/.default") {
		im.revoke(is.access, false)
		microsoftError(w, http.StatusBadRequest, "invalid_scope", 1002012,
			"The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		return
	}
	is.g.scopes = []string{"User.Read.All"} // the application permission the admin consented to
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
		"access_token": is.access})
}

// graphError answers Microsoft Graph's error body.
func graphError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]string{"date": time.Now().UTC().Format(time.RFC3339), "request-id": randomToken("")[:32]}}})
}

func (im *Imitation) graphMe(w http.ResponseWriter, r *http.Request) {
	g := im.bearer(r)
	switch {
	case g == nil:
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
	case g.extra["app"] != "":
		graphError(w, http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "displayName": "Megan Bowen",
			"userPrincipalName": "MeganB@contoso.onmicrosoft.com"})
	}
}

func (im *Imitation) graphUsers(w http.ResponseWriter, r *http.Request) {
	g := im.bearer(r)
	switch {
	case g == nil:
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure.")
	case !slices.Contains(g.scopes, "User.Read.All"):
		graphError(w, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"value": []map[string]string{{"id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
			"displayName": "Megan Bowen"}}})
	}
}
