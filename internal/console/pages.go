package console

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connect"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/web"
)

var loginPage = web.Parse("login", `{{define "title"}}Sign in{{end}}
{{define "content"}}<h1>tokend status</h1>
{{if .Error}}<p id="error" class="fail">{{.Error}}</p>{{end}}
<form method="post" action="/ui/login">
<p><label>Admin API key <input id="key" name="key" type="password" autocomplete="off" size="60" required></label></p>
<p><button id="signin" type="submit">Sign in</button></p>
</form>
<p>Use an admin API key: <code>tokend keys create --admin --description "status page"</code>.
The session lasts eight hours and ends when the key is revoked or at sign-out (which ends every session of the key).</p>{{end}}`)

var statusPage = web.Parse("status", `{{define "title"}}Connections{{end}}
{{define "content"}}<nav><h1>Connections</h1>
<form class="inline" method="post" action="/ui/logout"><input type="hidden" name="csrf" value="{{.CSRF}}"><button id="signout">Sign out</button></form></nav>
{{if .Notice}}<p id="notice" class="{{if .NoticeOK}}ok{{else}}fail{{end}}">{{.Notice}}</p>{{end}}
<table id="connections"><tr><th>Connection</th><th>Provider</th><th>Grant</th><th>Status</th><th>Token expires</th><th>Last refresh</th><th>Client secret</th><th>Metadata</th><th>Last error</th><th></th></tr>
{{range .Rows}}<tr id="conn-{{.Name}}"><td class="mono">{{.Name}}</td><td>{{.Provider}}</td><td>{{.Grant}}</td>
<td class="status {{.Class}}">{{.Status}}</td><td class="nowrap">{{.Expires}}</td><td class="nowrap">{{.Updated}}</td>
<td class="secret-expiry{{with .SecretClass}} {{.}}{{end}}">{{if .SecretExpiry}}{{.SecretExpiry}}<br><small>{{.SecretExpiresAt}}</small>{{else}}-{{end}}</td>
<td class="metadata">{{range .Metadata}}<span class="mono">{{.Key}}</span>: <span class="mono">{{.Value}}</span><br>{{end}}{{if .APIBaseURL}}<small>API: <span class="mono">{{.APIBaseURL}}</span></small>{{end}}{{if not (or .Metadata .APIBaseURL)}}-{{end}}</td>
<td>{{if .Error}}<span title="{{.Error}}">{{.ShortError}}</span><br><small>{{.ErrorAt}}</small>{{end}}</td>
<td>{{if .CanConnect}}<form class="inline" method="post" action="/ui/connections/{{.Name}}/reconnect"><input type="hidden" name="csrf" value="{{$.CSRF}}"><button class="reconnect">Reconnect</button>
<label><input type="checkbox" class="new-account" name="new_account" value="1"> a different account</label></form>{{end}}
{{if .CanRevoke}}<form class="inline" method="post" action="/ui/connections/{{.Name}}/revoke"><input type="hidden" name="csrf" value="{{$.CSRF}}"><button class="revoke">Revoke</button></form>{{end}}</td></tr>
{{else}}<tr><td colspan="10">No connections yet: create one with Terraform or <code>tokend create</code>.</td></tr>{{end}}
</table>
{{with .Keys}}{{if .Shown}}<h2>API keys</h2>
{{if .Error}}<p id="keys-error" class="fail">{{.Error}}</p>{{else}}<table id="keys"><tr><th>Key</th><th>Permissions</th><th>Admin</th><th>Created</th><th>Description</th></tr>
{{range .Rows}}<tr id="key-{{.ID}}"><td class="mono">{{.ID}}</td><td class="grants">{{range .Grants}}<span class="mono">{{.}}</span><br>{{else}}-{{end}}</td><td>{{if .Admin}}admin{{else}}-{{end}}</td><td class="nowrap">{{.Created}}</td><td>{{.Description}}</td></tr>
{{else}}<tr><td colspan="5">No API keys yet: create one with <code>tokend keys create</code>.</td></tr>{{end}}
</table>
<p><small>token: may read the access token; proxy: may send requests through tokend's proxy, never seeing the token. Manage keys with <code>tokend keys</code>.</small></p>{{end}}{{end}}{{end}}
<p><small>Times are UTC. Updated {{.Now}}.</small></p>{{end}}`)

var linkPage = web.Parse("link", `{{define "title"}}Connect link{{end}}
{{define "content"}}<h1>Reconnect {{.Name}}</h1>
<p>Send this link to the person who can grant consent at the provider. It works once, until {{.Expires}}, for this connection only:</p>
{{if .NewAccount}}<p id="new-account">It may authorize another account than the connection's current one: the connection then belongs to that account.</p>
{{else}}<p>Only the connection's current account can authorize with it; another account is refused.</p>{{end}}
<p id="link" class="box mono">{{.URL}}</p>
<p>It is shown only now. Or authorize it yourself, now:</p>
<form method="post" action="/ui/connections/{{.Name}}/authorize"><input type="hidden" name="csrf" value="{{.CSRF}}">{{if .NewAccount}}<input type="hidden" name="new_account" value="1">{{end}}<button id="authorize-now">Authorize now</button></form>
<p><a href="/ui">Back to the connections</a></p>{{end}}`)

// row is one connection on the status page.
type row struct {
	Name, Provider, Grant, Status, Class, Expires, Updated, Error, ShortError, ErrorAt string
	// SecretExpiry ("expires in 12 days", "expired") and SecretExpiresAt say when the client
	// secret expires, SecretClass how urgent it is.
	SecretExpiry, SecretExpiresAt, SecretClass string
	Metadata                                   []pair
	APIBaseURL                                 string
	CanConnect, CanRevoke                      bool
}

// pair is one value of a connection's metadata.
type pair struct{ Key, Value string }

// secretWarnBefore is how long before its expiry a client secret is shown as a warning.
const secretWarnBefore = 30 * 24 * time.Hour

func rowOf(s connection.Summary) row {
	r := row{Name: s.Name, Provider: s.Provider, Grant: strings.ReplaceAll(s.Grant, "_", " "), Status: strings.ReplaceAll(s.Status, "_", " "),
		Expires: when(s.ExpiresAt), Updated: when(s.UpdatedAt), Error: s.LastError, ShortError: short(s.LastError, 120), ErrorAt: when(s.LastErrorAt),
		SecretExpiry: s.ClientSecretExpiry, SecretExpiresAt: when(s.ClientSecretExpiresAt), APIBaseURL: s.APIBaseURL}
	for _, k := range slices.Sorted(maps.Keys(s.Metadata)) {
		r.Metadata = append(r.Metadata, pair{k, s.Metadata[k]})
	}
	if s.ClientSecretExpiresAt != nil {
		switch left := time.Until(*s.ClientSecretExpiresAt); {
		case left <= 0:
			r.SecretClass = "fail"
		case left <= secretWarnBefore:
			r.SecretClass = "warn"
		}
	}
	switch authconn.Status(s.Status) {
	case authconn.StatusAuthorized:
		r.Class = "ok"
	case authconn.StatusNeedsReauthorization, authconn.StatusFailed:
		r.Class = "fail"
	default:
		r.Class = "warn"
	}
	r.CanConnect = s.Grant != authconn.GrantClientCredentials
	r.CanRevoke = authconn.Status(s.Status) == authconn.StatusAuthorized || authconn.Status(s.Status) == authconn.StatusNeedsReauthorization
	return r
}

// short cuts s to n runes (the full text is in the cell's title).
func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// LoginForm serves GET /ui/login: the sign-in form.
func (c *Console) LoginForm(w http.ResponseWriter, r *http.Request) {
	web.Render(w, http.StatusOK, loginPage, struct{ Error string }{}, "")
}

// Login serves POST /ui/login: it exchanges an admin API key for a session at the key's current session epoch. A
// sign-in from another site (login CSRF: signing a victim's browser into the attacker's
// session) is refused like any cross-origin action.
func (c *Console) Login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if !c.sameOrigin(w, r) {
		return
	}
	id, err := c.o.VerifyAdmin(r.Context(), strings.TrimSpace(r.PostFormValue("key")))
	if err != nil {
		c.log.Info("status page: sign-in refused", "remote", r.RemoteAddr)
		c.record(r, "", audit.AdminSignIn, "", "", audit.Denied)
		msg := "That is not a valid admin API key."
		if strings.Contains(err.Error(), "not an admin key") {
			msg = "That API key is not an admin key: create one with tokend keys create --admin."
		}
		web.Render(w, http.StatusUnauthorized, loginPage, struct{ Error string }{msg}, "")
		return
	}
	epoch, err := c.o.SessionEpoch(r.Context(), id)
	if err != nil {
		c.log.Warn("status page: cannot read the session epoch", "key_id", id, "error", err)
		c.notSignedIn(w, r, errUnavailable)
		return
	}
	cookie, _ := c.sessions.issue(id, epoch, time.Now())
	http.SetCookie(w, cookie)
	c.log.Info("status page: signed in", "key_id", id)
	c.record(r, id, audit.AdminSignIn, "", "", audit.Success)
	http.Redirect(w, r, Path, http.StatusSeeOther)
}

// signOut ends every session of the admin key on every replica (its session epoch in Vault)
// and clears the cookie. When Vault cannot record it, the answer says so: the cookie is
// cleared, but a copy of it would still work until the sign-out is repeated.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, ss *session) {
	http.SetCookie(w, c.sessions.clear())
	if err := c.o.EndSessions(r.Context(), ss.keyID, ss.epoch); err != nil {
		c.log.Warn("status page: sign-out could not be recorded in Vault", "key_id", ss.keyID, "error", err)
		c.record(r, ss.keyID, audit.AdminSignOut, "", "", audit.Failure)
		web.ShowMessage(w, http.StatusServiceUnavailable, web.Message{Title: "Sign-out not recorded",
			Text: "This browser is signed out, but the session could not be ended on the server (Vault is unreachable).",
			Next: "Sign in again and sign out once Vault is back, or revoke the admin API key (tokend keys revoke)."})
		return
	}
	c.log.Info("status page: signed out", "key_id", ss.keyID)
	c.record(r, ss.keyID, audit.AdminSignOut, "", "", audit.Success)
	http.Redirect(w, r, Path+"/login", http.StatusSeeOther)
}

// Status serves GET /ui: the status page of a signed-in administrator, else the sign-in.
func (c *Console) Status(w http.ResponseWriter, r *http.Request) {
	ss, err := c.current(r)
	if err != nil {
		c.notSignedIn(w, r, err)
		return
	}
	c.render(w, r, ss, http.StatusOK, "", true)
}

// render shows the status page with an optional notice.
func (c *Console) render(w http.ResponseWriter, r *http.Request, ss *session, status int, notice string, ok bool) {
	sums, err := c.o.Overview(r.Context())
	if err != nil {
		c.log.Warn("status page: listing connections failed", "error", err)
		notice, ok, status = "Cannot read the connections from Vault right now; try again shortly.", false, http.StatusServiceUnavailable
	}
	rows := make([]row, 0, len(sums))
	for _, s := range sums {
		rows = append(rows, rowOf(s))
	}
	web.Render(w, status, statusPage, struct {
		Rows         []row
		Keys         keyList
		CSRF, Notice string
		NoticeOK     bool
		Now          string
	}{rows, c.keys(r.Context()), c.sessions.csrf(ss), notice, ok, time.Now().UTC().Format("2006-01-02 15:04:05")}, "")
}

// createReconnectLink creates a connect link for the connection and shows it once.
func (c *Console) createReconnectLink(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PathValue("name")
	newAccount := r.PostFormValue("new_account") == "1"
	u, l, err := c.o.Connect.CreateLinkWith(r.Context(), connect.LinkOptions{Name: name, Description: "status page, key " + ss.keyID, NewAccount: newAccount})
	if err != nil {
		c.record(r, ss.keyID, audit.AdminLinkCreated, name, "", audit.Failure)
		c.render(w, r, ss, http.StatusBadRequest, err.Error(), false)
		return
	}
	c.record(r, ss.keyID, audit.AdminLinkCreated, name, l.ID, audit.Success)
	c.log.Info("status page: connect link created", "key_id", ss.keyID, "connection", name, "link", l.ID, "new_account", newAccount)
	// "Authorize now" is answered with a redirect to the provider.
	web.RenderPage(w, http.StatusOK, linkPage, struct {
		Name, URL, Expires, CSRF string
		NewAccount               bool
	}{name, u, l.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"), c.sessions.csrf(ss), newAccount}, web.Page{ToProvider: true})
}

// beginAuthorization begins an authorization of the connection and sends the browser to
// the provider.
func (c *Console) beginAuthorization(w http.ResponseWriter, r *http.Request, ss *session) {
	begin := c.o.Connect.Begin
	if r.PostFormValue("new_account") == "1" {
		begin = c.o.Connect.BeginNewAccount
	}
	authURL, err := begin(r.Context(), r.PathValue("name"))
	if err != nil {
		c.record(r, ss.keyID, audit.AdminReconnect, r.PathValue("name"), "", audit.Failure)
		c.render(w, r, ss, http.StatusBadRequest, err.Error(), false)
		return
	}
	c.record(r, ss.keyID, audit.AdminReconnect, r.PathValue("name"), "", audit.Success)
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

// revokeConnection revokes the connection's tokens at the provider and in Vault.
func (c *Console) revokeConnection(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PathValue("name")
	if c.o.Revoke == nil {
		c.render(w, r, ss, http.StatusNotImplemented, "Revoking is not available here.", false)
		return
	}
	if err := c.o.Revoke(r.Context(), name); err != nil {
		c.record(r, ss.keyID, audit.AdminRevoke, name, "", audit.Failure)
		c.render(w, r, ss, http.StatusBadGateway, err.Error(), false)
		return
	}
	c.record(r, ss.keyID, audit.AdminRevoke, name, "", audit.Success)
	c.log.Info("status page: connection revoked", "key_id", ss.keyID, "connection", name)
	c.render(w, r, ss, http.StatusOK, name+" was revoked: its tokens are revoked at the provider and removed from Vault.", true)
}
