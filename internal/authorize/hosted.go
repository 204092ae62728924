package authorize

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// HostedCallbackPath is the path of the hosted redirect URIs: each connection has its own,
// {public-url}/v1/callback/{name} (so a callback cannot be replayed into another connection's
// flow: a mix-up defense). Flows begun before it existed used {public-url}/v1/callback and
// are still completed there.
const HostedCallbackPath = "/v1/callback"

// DefaultPendingTTL is how long a hosted authorization waits for its callback.
const DefaultPendingTTL = 10 * time.Minute

// HostedStore is what Hosted reads and writes: a Store that also keeps the flows in
// progress (*store.Store is one).
type HostedStore interface {
	Store
	PutPending(ctx context.Context, p *authconn.PendingAuthorization) error
	ConsumePending(ctx context.Context, state string) (*authconn.PendingAuthorization, error)
}

// Hosted runs authorization-code flows for tokend serve: the redirect URI is on tokend's
// public URL, the flow in progress is kept in Vault (so the callback may land on any
// replica), and completing it is single-use. The protections are those of the local flow:
// 32 bytes of state, PKCE S256, a nonce, RFC 9207 iss, the presets' parameters.
type Hosted struct {
	Store HostedStore
	OAuth *oauth.Client
	// RedirectURI is {public-url}/v1/callback; a connection's redirect URI, registered at
	// its provider, is RedirectURI + "/" + name (RedirectURIFor).
	RedirectURI string
	// PendingTTL is how long a flow waits for its callback [DefaultPendingTTL].
	PendingTTL       time.Duration
	FallbackLifetime time.Duration
	// Audit takes the record of every completed or failed flow: its caller is the connect
	// link's holder (the link's id), or the status page's administrator for a Reconnect.
	Audit audit.Recorder

	providers providerCache // resolved providers (discovery), per connection version
}

// Errors of a hosted callback that does not belong to a flow it can complete.
var (
	ErrUnknownAuthorization = errors.New("this authorization is unknown: it was completed already, or never began here")
	ErrAuthorizationExpired = errors.New("this authorization has expired: start again from the connect link or the status page")
	ErrAuthorizationUsed    = errors.New("this authorization was completed already")
	// ErrWrongCallback: the callback arrived at another redirect URI than its flow's (another
	// connection's path: a possible mix-up attack). Nothing was stored.
	ErrWrongCallback = errors.New("this callback arrived at the redirect URI of another connection than the one being authorized (a possible mix-up attack), so it was refused and nothing was stored: start again from the connect link or the status page")
)

// RedirectURIFor is the hosted redirect URI of connection name: {public-url}/v1/callback/{name}.
func (h *Hosted) RedirectURIFor(name string) string {
	return h.RedirectURI + "/" + url.PathEscape(name)
}

// Begin prepares the authorization of connection name (with scopes, or the connection's)
// for the holder of link linkID (empty for an administrator), keeps it in Vault, and
// returns the provider's authorization URL to send the browser to. newAccount: an operator
// allowed another account than the connection's recorded one.
func (h *Hosted) Begin(ctx context.Context, name string, scopes []string, linkID string, newAccount bool) (string, error) {
	a, err := Begin(ctx, h.Store, Request{Name: name, Scopes: scopes, RedirectURI: h.RedirectURIFor(name), OAuth: h.OAuth, FallbackLifetime: h.FallbackLifetime,
		providers: &h.providers})
	if err != nil {
		return "", err
	}
	pa := a.Request.Pending()
	t := time.Now().UTC()
	rec := &authconn.PendingAuthorization{Connection: name, LinkID: linkID, State: pa.State, Nonce: pa.Nonce, Verifier: pa.Verifier,
		RedirectURL: pa.RedirectURL, Scopes: pa.Scopes, CreatedAt: t, ExpiresAt: t.Add(h.ttl()), NewAccount: newAccount}
	if err := h.Store.PutPending(ctx, rec); err != nil {
		return "", fmt.Errorf("keeping the authorization of %q in Vault: %w", name, err)
	}
	return a.Request.URL, nil
}

func (h *Hosted) ttl() time.Duration {
	if h.PendingTTL > 0 {
		return h.PendingTTL
	}
	return DefaultPendingTTL
}

// Claim is called with a consumed pending authorization before its code is exchanged; it
// may refuse it (a connect link used meanwhile). release undoes the claim when the
// exchange fails.
type Claim func(ctx context.Context, p *authconn.PendingAuthorization) (release func(), err error)

// Complete finishes the flow whose callback query is q, received at the redirect path of
// connection pathName (empty: the shared {public-url}/v1/callback of flows begun before
// per-connection paths): it consumes the pending authorization named by the state
// (check-and-set: one caller only), refuses it when it was begun with another redirect URI
// (ErrWrongCallback), calls claim, checks the callback, exchanges the code with the client
// secret read from Vault, and stores the tokens with check-and-set, replacing any earlier
// record (needs_reauthorization included) of the same account. It returns the pending
// authorization it completed, for the caller's page.
func (h *Hosted) Complete(ctx context.Context, pathName string, q url.Values, claim Claim) (*Result, *authconn.PendingAuthorization, error) {
	state := q.Get("state")
	if state == "" {
		return nil, nil, ErrUnknownAuthorization
	}
	rec, err := h.Store.ConsumePending(ctx, state)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil, ErrUnknownAuthorization
	case errors.Is(err, store.ErrUsed):
		return nil, nil, ErrAuthorizationUsed
	case err != nil:
		return nil, nil, err
	case time.Now().After(rec.ExpiresAt):
		return h.refused(ctx, rec, ErrAuthorizationExpired)
	case rec.RedirectURL != h.callbackURI(pathName):
		return h.refused(ctx, rec, ErrWrongCallback)
	}
	release := func() {}
	if claim != nil {
		if release, err = claim(ctx, rec); err != nil {
			return h.refused(ctx, rec, err)
		}
	}
	res, err := h.complete(ctx, rec, q)
	if err != nil {
		release()
	}
	recordAuthorization(ctx, h.Audit, hostedCaller(rec), rec.Connection, res, err)
	return res, rec, err
}

// refused records flow rec's end with err and returns it.
func (h *Hosted) refused(ctx context.Context, rec *authconn.PendingAuthorization, err error) (*Result, *authconn.PendingAuthorization, error) {
	recordAuthorization(ctx, h.Audit, hostedCaller(rec), rec.Connection, nil, err)
	return nil, rec, err
}

// callbackURI is the redirect URI of the path a callback arrived at.
func (h *Hosted) callbackURI(pathName string) string {
	if pathName == "" {
		return h.RedirectURI
	}
	return h.RedirectURIFor(pathName)
}

// complete rebuilds the attempt of rec on this replica and completes it with q.
func (h *Hosted) complete(ctx context.Context, rec *authconn.PendingAuthorization, q url.Values) (*Result, error) {
	r := Request{Name: rec.Connection, Scopes: rec.Scopes, RedirectURI: rec.RedirectURL, OAuth: h.OAuth, FallbackLifetime: h.FallbackLifetime,
		providers: &h.providers, NewAccount: rec.NewAccount}
	c, err := prepare(ctx, h.Store, &r)
	if err != nil {
		return nil, err
	}
	ar := c.prov.ResumeAuthRequest(c.creds, oauth.PendingAuth{State: rec.State, Nonce: rec.Nonce, Verifier: rec.Verifier,
		RedirectURL: rec.RedirectURL, Scopes: rec.Scopes})
	a := &Attempt{Name: rec.Connection, ClientID: c.conn.ClientID, Provider: c.prov, Request: ar, st: h.Store, oc: r.OAuth, fallback: r.FallbackLifetime,
		newAccount: r.NewAccount, fill: connection.FillsWithMetadata(&c.conn.Connection)}
	return a.Complete(ctx, q)
}
