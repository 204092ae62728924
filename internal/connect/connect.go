// Package connect lets the right person authorize a connection from anywhere: connect links
// (single-use, expiring, revocable, stored hashed) and the hosted authorization-code flow
// of tokend serve, whose redirect URI is {public-url}/v1/callback/{name}. A link is
// {public-url}/connect#tl_<id>_<secret>: the token is in the URL's fragment, which
// browsers never send to a server, so it appears in no request line, log or Referer; the
// page posts it.
package connect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/apikey"
	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// Paths of the routes the Service serves.
const (
	LandingPath = "/connect"
	StartPath   = "/v1/connect"
)

// DefaultLinkTTL and MaxLinkTTL bound how long a connect link is valid.
const (
	DefaultLinkTTL = 24 * time.Hour
	MaxLinkTTL     = 30 * 24 * time.Hour
)

// Options configure a Service.
type Options struct {
	Store *store.Store
	OAuth *oauth.Client
	// PublicURL is where browsers reach tokend, e.g. https://tokend.example.com (a path is
	// kept: https://example.com/tokend).
	PublicURL string
	// PendingTTL is how long a flow waits for its callback [authorize.DefaultPendingTTL].
	PendingTTL       time.Duration
	FallbackLifetime time.Duration
	// OnAuthorized, when set, is told of every completed authorization.
	OnAuthorized func(ctx context.Context, name string, res *authorize.Result)
	// Audit takes the record of every hosted flow's end (authorize.Hosted.Audit).
	Audit  audit.Recorder
	Logger *slog.Logger
}

// Service creates and checks connect links and serves the hosted flow.
type Service struct {
	o      Options
	public *url.URL
	hosted *authorize.Hosted
	flows  *linkFlows
	log    *slog.Logger
}

// New returns a Service for o.
func New(o Options) (*Service, error) {
	u, err := ParsePublicURL(o.PublicURL)
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Service{o: o, public: u, log: o.Logger}
	s.hosted = &authorize.Hosted{Store: o.Store, OAuth: o.OAuth, RedirectURI: s.URL(authorize.HostedCallbackPath),
		PendingTTL: o.PendingTTL, FallbackLifetime: o.FallbackLifetime, Audit: o.Audit}
	s.flows = newLinkFlows(s.pendingTTL())
	return s, nil
}

// ParsePublicURL checks a public URL: https (http only on a loopback host), no query or
// fragment.
func ParsePublicURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("invalid public URL %q: use the address browsers reach tokend at, e.g. https://tokend.example.com", raw)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && authconn.IsLoopbackHost(u.Hostname())) {
		return nil, fmt.Errorf("public URL %q must use https (providers refuse plain http redirect URIs except on localhost): put tokend behind a TLS proxy or give it --tls-cert and --tls-key", raw)
	}
	return u, nil
}

// URL returns the public URL of path.
func (s *Service) URL(path string) string { return s.public.String() + path }

// RedirectURI is the base of the hosted redirect URIs, {public-url}/v1/callback; each
// connection's is RedirectURIFor(name).
func (s *Service) RedirectURI() string { return s.hosted.RedirectURI }

// RedirectURIFor is the redirect URI to register at connection name's provider:
// {public-url}/v1/callback/{name}.
func (s *Service) RedirectURIFor(name string) string { return s.hosted.RedirectURIFor(name) }

// Secure reports whether the public URL uses https (cookies are then Secure).
func (s *Service) Secure() bool { return s.public.Scheme == "https" }

// LinkOptions describe a connect link to create (TTL: DefaultLinkTTL when zero, at most
// MaxLinkTTL).
type LinkOptions = authconn.LinkOptions

// CreateLink creates a link that authorizes connection name with scopes (the connection's
// when empty) until ttl from now, and returns its URL, which holds the token: show it
// once, to the person who asked for it.
func (s *Service) CreateLink(ctx context.Context, name string, scopes []string, ttl time.Duration, description string) (string, *authconn.ConnectLink, error) {
	return s.CreateLinkWith(ctx, LinkOptions{Name: name, Scopes: scopes, TTL: ttl, Description: description})
}

// CreateLinkWith creates the link that o describes, as CreateLink does.
func (s *Service) CreateLinkWith(ctx context.Context, o LinkOptions) (string, *authconn.ConnectLink, error) {
	name, scopes, ttl, description := o.Name, o.Scopes, o.TTL, o.Description
	if ttl == 0 {
		ttl = DefaultLinkTTL
	}
	if ttl < time.Minute || ttl > MaxLinkTTL {
		return "", nil, fmt.Errorf("invalid link lifetime %s: use between 1m and %s", ttl, MaxLinkTTL)
	}
	conn, err := s.o.Store.GetConnection(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, fmt.Errorf("connection %q does not exist: create it with Terraform or `tokend create` first", name)
	}
	if err != nil {
		return "", nil, err
	}
	if conn.UsesClientCredentials() {
		return "", nil, fmt.Errorf("connection %q uses the client credentials grant: nobody needs to authorize it", name)
	}
	for _, sc := range scopes {
		if err := authconn.ValidateScope(sc); err != nil {
			return "", nil, err
		}
	}
	k, err := apikey.GenerateLink()
	if err != nil {
		return "", nil, err
	}
	t := time.Now().UTC()
	l := &authconn.ConnectLink{ID: k.ID, Hash: k.Hash, Connection: name, Scopes: scopes, Description: description, CreatedAt: t, ExpiresAt: t.Add(ttl),
		NewAccount: o.NewAccount}
	if err := s.o.Store.CreateLink(ctx, l); err != nil {
		return "", nil, err
	}
	s.log.Info("connect link created", "link", l.ID, "connection", name, "expires_at", l.ExpiresAt.Format(time.RFC3339), "new_account", l.NewAccount)
	return s.URL(LandingPath) + "#" + k.Plain, l, nil
}

// RevokeLink revokes link id; a link used or revoked already stays so.
func (s *Service) RevokeLink(ctx context.Context, id string) error {
	l, v, err := s.o.Store.GetLink(ctx, id)
	if err != nil {
		return err
	}
	if !l.RevokedAt.IsZero() {
		return nil
	}
	l.RevokedAt = time.Now().UTC()
	if err := s.o.Store.UpdateLink(ctx, l, v); err != nil {
		return err
	}
	s.log.Info("connect link revoked", "link", id, "connection", l.Connection)
	return nil
}

// Links returns every connect link, newest first.
func (s *Service) Links(ctx context.Context) ([]*authconn.ConnectLink, error) {
	return s.o.Store.ListLinks(ctx)
}

// ErrBadLink is returned for a token that names no link, or whose secret is wrong.
var ErrBadLink = errors.New("this connect link is not valid")

// LinkError says why a known link cannot be used now.
type LinkError struct{ State authconn.LinkState }

func (e *LinkError) Error() string {
	switch e.State {
	case authconn.LinkUsed:
		return "this connect link was used already: ask for a new one"
	case authconn.LinkExpired:
		return "this connect link has expired: ask for a new one"
	case authconn.LinkRevoked:
		return "this connect link was revoked: ask for a new one"
	}
	return "this connect link cannot be used"
}

// Open checks a presented link token and begins the authorization it grants; it returns
// the provider's authorization URL.
func (s *Service) Open(ctx context.Context, token string) (string, error) {
	id, secret, err := apikey.ParseLink(strings.TrimSpace(token))
	if err != nil {
		return "", ErrBadLink
	}
	l, _, err := s.o.Store.GetLink(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrBadLink
	}
	if err != nil {
		return "", err
	}
	if !apikey.Verify(secret, l.Hash) {
		s.log.Warn("a connect link was presented with a wrong secret", "link", id)
		return "", ErrBadLink
	}
	if st := l.State(time.Now()); st != authconn.LinkActive {
		return "", &LinkError{State: st}
	}
	// A link opened again within a minute gets the same flow; at most MaxFlowsPerLink.
	return s.flows.begin(ctx, l, func(ctx context.Context) (string, error) {
		return s.hosted.Begin(ctx, l.Connection, l.Scopes, l.ID, l.NewAccount)
	})
}

// Begin starts an authorization of connection name by an administrator (no link).
func (s *Service) Begin(ctx context.Context, name string) (string, error) {
	return s.hosted.Begin(ctx, name, nil, "", false)
}

// BeginNewAccount starts an authorization of connection name by an administrator (no link)
// that may replace the connection's account with whichever account signs in.
func (s *Service) BeginNewAccount(ctx context.Context, name string) (string, error) {
	return s.hosted.Begin(ctx, name, nil, "", true)
}

// claimLink marks the link of p used (check-and-set) before the code is exchanged; release
// makes it usable again if the exchange fails.
func (s *Service) claimLink(ctx context.Context, p *authconn.PendingAuthorization) (func(), error) {
	if p.LinkID == "" {
		return func() {}, nil
	}
	s.flows.forget(p.LinkID) // its flows are not handed out again
	l, v, err := s.o.Store.GetLink(ctx, p.LinkID)
	if err != nil {
		return nil, fmt.Errorf("reading the connect link: %w", err)
	}
	if st := l.State(time.Now()); st != authconn.LinkActive {
		return nil, &LinkError{State: st}
	}
	l.UsedAt = time.Now().UTC()
	if err := s.o.Store.UpdateLink(ctx, l, v); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, &LinkError{State: authconn.LinkUsed}
		}
		return nil, err
	}
	return func() {
		l.UsedAt = time.Time{}
		if err := s.o.Store.UpdateLink(context.WithoutCancel(ctx), l, v+1); err != nil {
			s.log.Warn("could not make the connect link usable again after a failed authorization", "link", l.ID, "error", err)
		}
	}, nil
}
