package authorize

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/events"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/tokens"
)

// Request describes an authorization to begin.
type Request struct {
	// Name is the connection to authorize.
	Name string
	// Scopes to request; the connection's scopes when empty, else DefaultScopes.
	Scopes []string
	// RedirectURI is where the provider sends the browser back (registered at the provider).
	RedirectURI string
	// OAuth performs the provider requests; a zero oauth.Client when nil.
	OAuth *oauth.Client
	// FallbackLifetime is the access-token lifetime assumed when the provider sends no
	// expires_in (tokens.DefaultFallbackLifetime when zero).
	FallbackLifetime time.Duration
	// providers, when set, caches the resolved provider (the hosted flow's).
	providers *providerCache
	// NewAccount: an operator asked for this authorization to replace the connection's
	// account with whichever account signs in. Without it, an authorization by an account
	// other than the recorded one is refused (AccountMismatchError).
	NewAccount bool
}

// Store is what the authorization flows read and write: the connection, its credentials,
// its tokens and account, and the outbox of the authorized event. *store.Store is one, and
// tailortest.MemStore for unit tests.
type Store interface {
	connection.CredentialStore
	events.Outbox
	GetConnection(ctx context.Context, name string) (*store.ConnectionRecord, error)
	GetTokens(ctx context.Context, name string) (*store.TokenRecord, error)
	PutTokens(ctx context.Context, name string, t *authconn.TokenSet, version int) (int, error)
	GetAccount(ctx context.Context, name string) (*store.AccountRecord, error)
	PutAccount(ctx context.Context, name string, r *store.AccountRecord, version int) (int, error)
}

// Attempt is one authorization of a connection in progress: the request to send the user to,
// and what its callback is checked against. It holds the PKCE verifier: keep it in memory.
type Attempt struct {
	Name     string
	ClientID string
	Provider *oauth.Provider
	Request  *oauth.AuthRequest

	st         Store
	oc         *oauth.Client
	fallback   time.Duration
	newAccount bool
	// fill: the connection's endpoints may be filled with its metadata
	// (connection.FillsWithMetadata).
	fill bool
}

// Begin reads connection r.Name and its client secret from st, resolves the provider's
// endpoints and prepares the authorization request (state, PKCE, nonce, the preset's
// parameters). Errors say what to do next.
func Begin(ctx context.Context, st Store, r Request) (*Attempt, error) {
	c, err := prepare(ctx, st, &r)
	if err != nil {
		return nil, err
	}
	if c.prov.AuthURL == "" {
		return nil, fmt.Errorf("connection %q has no authorization endpoint: set auth_url on the connection", r.Name)
	}
	return &Attempt{Name: r.Name, ClientID: c.conn.ClientID, Provider: c.prov, Request: c.prov.NewAuthRequest(c.creds, r.RedirectURI, c.scopes),
		st: st, oc: r.OAuth, fallback: r.FallbackLifetime, newAccount: r.NewAccount, fill: connection.FillsWithMetadata(&c.conn.Connection)}, nil
}

// prepared is what both flows need: the connection, its credentials, its provider and the
// scopes to request.
type prepared struct {
	conn   *store.ConnectionRecord
	creds  oauth.Credentials
	prov   *oauth.Provider
	scopes []string
}

// prepare reads connection r.Name and its credentials from st and resolves its provider.
func prepare(ctx context.Context, st Store, r *Request) (*prepared, error) {
	if r.OAuth == nil {
		r.OAuth = &oauth.Client{}
	}
	name := r.Name
	conn, err := st.GetConnection(ctx, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("connection %q does not exist in Vault: create it first with `tokend create --name %s ...` or the Terraform provider (resource tailor_authconnection); `tokend list` shows the existing connections", name, name)
		}
		return nil, fmt.Errorf("reading connection %q: %w", name, err)
	}
	if conn.UsesClientCredentials() {
		return nil, fmt.Errorf("connection %q uses the client credentials grant: it needs no authorization, tokend serve obtains its tokens by itself", name)
	}
	creds, _, err := connection.Credentials(ctx, st, &conn.Connection)
	if err != nil {
		return nil, err
	}
	var prov *oauth.Provider
	if r.providers != nil {
		prov, err = r.providers.resolve(ctx, r.OAuth, conn)
	} else {
		prov, err = r.OAuth.Resolve(ctx, &conn.Connection)
	}
	if err != nil {
		return nil, fmt.Errorf("finding the OAuth2 endpoints of %q: %w", name, err)
	}
	if prov.TokenURL == "" {
		return nil, fmt.Errorf("connection %q has no token endpoint: set token_url on the connection", name)
	}
	scopes, err := scopesFor(r.Scopes, conn.Scopes)
	if err != nil {
		return nil, err
	}
	return &prepared{conn: conn, creds: creds, prov: prov, scopes: scopes}, nil
}

// scopesFor returns the scopes to request: requested, else the connection's, else
// DefaultScopes, each checked.
func scopesFor(requested, conn []string) ([]string, error) {
	scopes := requested
	if len(scopes) == 0 {
		scopes = conn
	}
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	for _, s := range scopes {
		if err := authconn.ValidateScope(s); err != nil {
			return nil, err
		}
	}
	return scopes, nil
}

// Complete checks the callback query q, exchanges its code and stores the token set,
// replacing an earlier record.
func (a *Attempt) Complete(ctx context.Context, q url.Values) (*Result, error) {
	cb, err := a.Request.ParseCallback(q)
	if err != nil {
		var ce *oauth.CallbackError
		if errors.As(err, &ce) {
			return nil, &CallbackError{Name: a.Name, Err: ce}
		}
		return nil, fmt.Errorf("authorizing %q: %w", a.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tok, err := a.oc.Exchange(ctx, a.Request, cb)
	if err != nil {
		return nil, exchangeError(a.Name, err)
	}
	ts := tokens.Authorized(tok, a.Request.Scopes, cb.Extras, a.fallback)
	ts.IssuedBy = a.Provider.Issuance() // refreshes and revocations go only there
	res := &Result{Name: a.Name, Provider: a.Provider.Name(), RedirectURI: a.Request.RedirectURL, Scopes: a.Request.Scopes,
		GrantedScope: ts.Scope, CallbackExtras: ts.CallbackExtras}
	res.noteMetadata(ts, captureMetadata(ctx, a.oc, a.Provider, a.fill, cb, tok, ts))
	ts.Account = a.Provider.Account(tok, accountValues(cb.Extras, ts.Metadata))
	if err := storeAuthorization(ctx, a.st, a.Name, ts, res, a.newAccount); err != nil {
		return nil, err
	}
	res.finish(ts, a.Provider.Preset.NoRefreshTokenAdvice)
	return res, nil
}

// noteMetadata records the metadata of ts in res, and warning (captureMetadata's) among
// the warnings.
func (res *Result) noteMetadata(ts *authconn.TokenSet, warning string) {
	res.Metadata, res.APIBaseURL, res.MetadataError = ts.Metadata, ts.APIBaseURL, warning
	if warning != "" {
		res.Warnings = append(res.Warnings, warning)
	}
}

// finish fills in what was stored, and warns when no refresh token came.
func (res *Result) finish(ts *authconn.TokenSet, advice string) {
	res.Expiry, res.RefreshTokenExpiry, res.HasRefreshToken = ts.Expiry, ts.RefreshTokenExpiry, ts.RefreshToken != ""
	if res.KeptRefreshToken {
		res.Warnings = append(res.Warnings, "the provider returned no new refresh token; the refresh token of the earlier authorization was kept. "+advice)
	} else if !res.HasRefreshToken {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the provider returned no refresh token: connection %q works only until its access token expires at %s and cannot be refreshed. %s",
			res.Name, ts.Expiry.Format(time.RFC3339), advice))
	}
}

// storeAuthorization writes ts as the token record of connection name, replacing an existing
// record (read first, so check-and-set replaces exactly the version seen). A record written
// by someone else in between (a refresh of the old chain) is replaced on a retry: this
// authorization is newer. An authorization by another account than the connection's
// recorded one is refused before anything is stored (AccountMismatchError), unless
// newAccount: an operator asked for it.
func storeAuthorization(ctx context.Context, st Store, name string, ts *authconn.TokenSet, res *Result, newAccount bool) error {
	acct, err := st.GetAccount(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("the provider issued tokens for %q but reading its account record failed, so nothing was stored: %w; authorize again when Vault is reachable", name, err)
	}
	issued := *ts
	for attempt := 1; ; attempt++ {
		*ts = issued
		old, err := st.GetTokens(ctx, name)
		version := 0
		var prev *authconn.TokenSet
		switch {
		case err == nil:
			version, prev = old.Version, &old.TokenSet
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("the provider issued tokens for %q but reading the existing token record failed, so nothing was stored: %w; authorize again when Vault is reachable", name, err)
		}
		if err := settleAccount(name, ts, recordedAccount(acct, prev), newAccount, res); err != nil {
			return err
		}
		res.Replaced = prev != nil
		res.KeptRefreshToken = prev != nil && !res.AccountChanged && tokens.KeepRefreshToken(ts, prev)
		v, err := st.PutTokens(ctx, name, ts, version)
		if v > 0 {
			res.Version = v
			if err != nil { // the tokens are stored; only the status summary failed
				res.Warnings = append(res.Warnings, err.Error())
			}
			if w := keepAccount(ctx, st, name, ts.Account, acct); w != "" {
				res.Warnings = append(res.Warnings, w)
			}
			ev := authconn.Event{ID: authconn.AuthorizedEventID(name, v, ts.AuthorizedAt), Type: authconn.EventAuthorized, Connection: name, Status: authconn.StatusAuthorized,
				Message: res.accountMessage(), AccountChanged: res.AccountChanged, NewAccountRequested: newAccount,
				Metadata: ts.Metadata, APIBaseURL: ts.APIBaseURL}
			if err := events.Enqueue(ctx, st, ev); err != nil {
				res.Warnings = append(res.Warnings, "the webhooks could not be told of the authorization: "+err.Error())
			}
			return nil
		}
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		return fmt.Errorf("storing the tokens of %q in Vault failed, so the authorization is lost: %w; authorize again", name, err)
	}
}

// Result describes a completed authorization. It holds no token.
type Result struct {
	Name string
	// Provider is the preset name ("google", "microsoft", "quickbooks", "github"), "oidc" for
	// a discovered provider, or "custom".
	Provider string
	// RedirectURI is the redirect URI that was used.
	RedirectURI string
	// Scopes are the scopes that were requested.
	Scopes []string
	// GrantedScope is the scope the provider reported in the token response, if any.
	GrantedScope string
	// Expiry is when the access token expires.
	Expiry time.Time
	// HasRefreshToken reports whether the stored record has a refresh token.
	HasRefreshToken bool
	// KeptRefreshToken: the provider sent no refresh token and the one from the earlier
	// authorization was kept.
	KeptRefreshToken bool
	// RefreshTokenExpiry is when the refresh token expires, when the provider says.
	RefreshTokenExpiry time.Time
	// CallbackExtras are the extra values of the callback (QuickBooks realmId).
	CallbackExtras map[string]string
	// Replaced reports whether an earlier token record was replaced.
	Replaced bool
	// Version is the KV v2 version of the stored token record.
	Version int
	// Metadata are the connection's non-secret values kept from this authorization (the
	// catalog entry's: realmId, instance_url, tenant id), and APIBaseURL its API base URL.
	Metadata   map[string]string
	APIBaseURL string
	// MetadataError says why the metadata is incomplete (the post-connect call failed, timed
	// out, found several tenants or none); the tokens were stored all the same. Empty when
	// nothing failed.
	MetadataError string
	// Warnings are things the operator should act on (no refresh token, ...).
	Warnings []string
	// Device: authorized with the device flow.
	Device bool
	// Account is who authorized, when the provider said (nil otherwise).
	Account *authconn.Account
	// AccountChanged: the connection had another account before, and an operator asked for
	// a new one (NewAccountRequested).
	AccountChanged      bool
	NewAccountRequested bool
}

// Message is the text of the page shown in the browser at the end.
func (r *Result) Message() string {
	msg := fmt.Sprintf("Connection %q is authorized and its tokens are stored in Vault. You can close this window.", r.Name)
	for _, w := range r.Warnings {
		msg += " Warning: " + w
	}
	return msg
}

func exchangeError(name string, err error) error {
	switch oauth.KindOf(err) {
	case oauth.KindInvalidClient:
		return fmt.Errorf("exchanging the authorization code of %q: %w; next: check the connection's client_id and its client secret in Vault (set it again with the Terraform provider), and that the app is enabled at the provider", name, err)
	case oauth.KindInvalidGrant:
		return fmt.Errorf("exchanging the authorization code of %q: %w; next: the code may have expired or been used: check that the redirect URI registered at the provider is exactly the one printed above, then authorize again", name, err)
	case oauth.KindTransient:
		return fmt.Errorf("exchanging the authorization code of %q: %w; try again in a moment", name, err)
	}
	var oe *oauth.Error
	if errors.As(err, &oe) && oe.Code == "invalid_scope" {
		return fmt.Errorf("exchanging the authorization code of %q: %w; next: check that the requested scopes are enabled for the app at the provider", name, err)
	}
	return fmt.Errorf("exchanging the authorization code of %q: %w", name, err)
}
