// Package connection holds the operations on a whole tailor connection that tokend's CLI and
// the Terraform provider share: Create (configuration plus client secret), Revoke (RFC 7009
// revocation at the provider, then the tokens are removed from Vault; the connection stays)
// and Delete (revoke, then every record of the connection is removed), with one failure
// policy for both callers (Options).
//
// Errors, Result's texts and Warning name the next step and never contain a secret or a
// token: Revoke and Delete read the connection's tokens and client secret first and take
// every value of them out of what they return, should a provider echo one in its error
// description.
package connection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/events"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// Store is what the operations of this package read and write: *store.Store, or
// tailortest.MemStore in unit tests.
type Store interface {
	CredentialStore
	History
	events.Outbox
	CreateConnection(ctx context.Context, c *authconn.Connection) (int, error)
	GetConnection(ctx context.Context, name string) (*store.ConnectionRecord, error)
	DeleteConnection(ctx context.Context, name string) error
	CreateClientSecret(ctx context.Context, name, secret string, origins ...string) (int, error)
	PutClientAssertionKey(ctx context.Context, name string, key store.ClientAssertionKey) (int, error)
	GetTokens(ctx context.Context, name string) (*store.TokenRecord, error)
	DeleteTokens(ctx context.Context, name string) error
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, opts ...store.LeaseOption) (*store.Lease, *store.Lease, error)
	ReleaseLease(ctx context.Context, l *store.Lease) error
}

// Options changes how Revoke and Delete treat a provider that cannot revoke. The zero value
// is the careful policy of `tokend revoke` and `tokend delete`: fail and keep everything.
type Options struct {
	// Force removes the tokens from Vault even when revocation at the provider failed (the
	// provider is unreachable, refused the client, ...). The failure is then reported in
	// Result.RevokeError instead of being returned, and the tokens may stay valid at the
	// provider until they expire.
	Force bool
	// LeaseWait bounds the wait for a refresh in progress (tokend serve holds the
	// connection's refresh lease); 30 s when zero.
	LeaseWait time.Duration
	// Holder names this process in the refresh lease; "<host>:<pid>:revoke" when empty.
	Holder string
	// NoDeletedEvent leaves connection.deleted to tokend serve, which emits it from the
	// change log (the Terraform role may not write the outbox). Without it Delete stores the
	// event too, under the same id, so the webhooks get it once.
	NoDeletedEvent bool
	// DeleteIfForbidden makes Delete remove the records without revoking when Vault refuses
	// (403) what revocation needs (read the tokens and client secret, take the refresh lease)
	// and nothing was revoked: the least-privilege Terraform role of docs/vault-layout.md.
	// Result.Forbidden then holds the refusal. Without it such a Delete fails and deletes
	// nothing.
	DeleteIfForbidden bool
	// Audit takes the record of the revoke or delete (connection.revoked,
	// connection.deleted), made by Caller; audit.Nop when nil (the Terraform provider, which
	// cannot reach tokend's audit stream).
	Audit  audit.Recorder
	Caller audit.Caller
}

// Result describes what Revoke or Delete did. It holds no token.
type Result struct {
	Name string
	// Found is false when the connection did not exist (Delete then only removed leftovers).
	Found bool
	// HadTokens reports whether a token record existed.
	HadTokens bool
	// Revoked lists the token types revoked at the provider ("refresh_token", "access_token").
	Revoked []string
	// RevokeSkipped says why no revocation was attempted (no tokens, no revocation endpoint).
	RevokeSkipped string
	// RevokeError is the revocation failure that Options.Force let pass.
	RevokeError error
	// Forbidden is Vault's refusal (403) of what revocation needs, which
	// Options.DeleteIfForbidden let pass: the records were deleted, nothing was revoked.
	Forbidden error
	// Warnings are partial failures worth telling the operator.
	Warnings []string
	// TokensDeleted reports whether the token record and refresh lease were removed.
	TokensDeleted bool
	// Deleted reports whether the configuration and client secret were removed (Delete).
	Deleted bool
}

// NotFoundError reports a connection that does not exist.
type NotFoundError struct{ Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("connection %q does not exist in Vault: `tokend list` shows the existing connections", e.Name)
}

// Is makes errors.Is(err, store.ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == store.ErrNotFound }

// Secret is what a new connection's client authenticates with: its client secret, or, for
// a client_auth of private_key_jwt, its client assertion key.
type Secret struct {
	ClientSecret string
	AssertionKey *store.ClientAssertionKey
}

// String hides the secret.
func (Secret) String() string { return "Secret(redacted)" }

// GoString hides the secret.
func (s Secret) GoString() string { return s.String() }

// check reports whether sec fits the client authentication of c.
func (sec Secret) check(c *authconn.Connection) error {
	if c.ClientAuth == authconn.ClientAuthPrivateKeyJWT {
		if sec.AssertionKey == nil {
			return errors.New("client_auth private_key_jwt needs the client's private key (the client assertion key), not a client secret")
		}
		_, _, err := authconn.ParseAssertionKey(sec.AssertionKey.PEM)
		return err
	}
	if sec.AssertionKey != nil {
		return errors.New("a client assertion key is used only with client_auth private_key_jwt: set it, or give a client secret")
	}
	return authconn.ValidateClientSecret(sec.ClientSecret)
}

// Create stores a new connection and its client secret or assertion key. It fails with an
// error that matches store.ErrConflict when the name is taken, and leaves nothing behind
// when storing the secret fails.
func Create(ctx context.Context, st Store, c *authconn.Connection, sec Secret) error {
	if c.Type == "" {
		c.Type = authconn.TypeOAuth2
	}
	if err := errors.Join(c.Validate(), CheckProvider(c), sec.check(c)); err != nil {
		return err
	}
	if _, err := st.CreateConnection(ctx, c); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("connection %q already exists: choose another name, or remove it first with `tokend delete %s`: %w", c.Name, c.Name, err)
		}
		return fmt.Errorf("creating connection %q: %w", c.Name, err)
	}
	what := "client secret"
	var err error
	origins := authconn.EndpointOrigins(c) // the secret is sent only there
	if sec.AssertionKey != nil {
		what = "client assertion key"
		key := *sec.AssertionKey
		key.EndpointOrigins = origins
		_, err = st.PutClientAssertionKey(ctx, c.Name, key)
	} else {
		_, err = st.CreateClientSecret(ctx, c.Name, sec.ClientSecret, origins...)
	}
	if err != nil {
		if derr := st.DeleteConnection(ctx, c.Name); derr != nil {
			return fmt.Errorf("storing the %s of %q failed (%w), and removing the half-created connection failed too (%v): remove it with `tokend delete %s`", what, c.Name, err, derr, c.Name)
		}
		return fmt.Errorf("storing the %s of %q failed, so the connection was not created: %w", what, c.Name, err)
	}
	return nil
}

// Revoke ends the authorization of connection name: it revokes the refresh token and the
// access token at the provider's RFC 7009 endpoint (when the provider has one), then removes
// the token record and refresh lease from Vault. The connection and its client secret stay,
// so it can be authorized again. It holds the connection's refresh lease meanwhile, so a
// concurrent refresh cannot rotate the token between the revocation and the removal.
//
// When revocation fails, the tokens stay in Vault and the error says so, unless o.Force
// is set.
func Revoke(ctx context.Context, st Store, oc *oauth.Client, name string, o Options) (Result, error) {
	hide := secretsOf(ctx, st, name)
	res, err := revokeOnly(ctx, st, oc, name, o)
	o.audit(ctx, audit.ConnectionRevoked, name, err)
	return res.redacted(hide), redactError(err, hide)
}

// audit records action on connection name, ended with err, with o's recorder and caller.
// The reason is not_found or failed: the error's text (a provider's answer) stays out.
func (o Options) audit(ctx context.Context, action audit.Action, name string, err error) {
	rec := audit.Record{Caller: o.Caller, Connection: name, Action: action, Outcome: audit.Success}
	var nf *NotFoundError
	switch {
	case errors.As(err, &nf):
		rec.Outcome, rec.Reason = audit.Failure, "not_found"
	case err != nil:
		rec.Outcome, rec.Reason = audit.Failure, "failed"
	}
	audit.OrNop(o.Audit).Record(ctx, rec)
}

// revokeOnly is Revoke before redaction.
func revokeOnly(ctx context.Context, st Store, oc *oauth.Client, name string, o Options) (Result, error) {
	res := Result{Name: name}
	conn, err := st.GetConnection(ctx, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return res, &NotFoundError{Name: name}
		}
		return res, fmt.Errorf("reading connection %q: %w", name, err)
	}
	res.Found = true
	if err := revoke(ctx, st, oc, conn, o, &res); err != nil {
		return res, err
	}
	res.enqueue(ctx, st, authconn.Event{Type: authconn.EventRevoked, Connection: name, Status: authconn.StatusNotAuthorized})
	return res, nil
}

// enqueue stores ev of a revoke or delete for the webhooks; a failure is a warning in res
// (the Terraform role may have no access to the outbox).
func (res *Result) enqueue(ctx context.Context, st events.Outbox, ev authconn.Event) {
	if err := events.Enqueue(ctx, st, ev); err != nil {
		res.Warnings = append(res.Warnings, "the webhooks could not be told ("+string(ev.Type)+"): "+err.Error())
	}
}

func revoke(ctx context.Context, st Store, oc *oauth.Client, conn *store.ConnectionRecord, o Options, res *Result) error {
	name := conn.Name
	lease, err := acquireLease(ctx, st, name, o)
	if err != nil {
		return err
	}
	// DeleteTokens removes the lease record together with the tokens; release it only when
	// the tokens stay.
	released := false
	defer func() {
		if !released {
			_ = st.ReleaseLease(context.WithoutCancel(ctx), lease)
		}
	}()

	ts, err := st.GetTokens(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		res.RevokeSkipped = "the connection has no tokens"
	case err != nil:
		return fmt.Errorf("reading the tokens of %q: %w", name, err)
	default:
		res.HadTokens = true
		if rerr := revokeAtProvider(ctx, st, oc, conn, ts, res); rerr != nil {
			if !o.Force {
				return fmt.Errorf("revoking the tokens of %q at the provider failed, so they were kept in Vault: %w; "+
					"run revoke again when the provider is reachable, or pass --force to remove them from Vault anyway (they then stay valid at the provider until they expire)", name, rerr)
			}
			res.RevokeError = rerr
		}
	}
	if err := st.DeleteTokens(ctx, name); err != nil {
		return fmt.Errorf("removing the tokens of %q from Vault: %w; run revoke again", name, err)
	}
	released = true
	res.TokensDeleted = true
	return nil
}

// revokeAtProvider revokes the refresh token, then the access token. Revoking the refresh
// token is what matters (it ends the chain, and at most providers its access tokens); a
// failure to revoke the access token afterwards is a warning.
func revokeAtProvider(ctx context.Context, st Store, oc *oauth.Client, conn *store.ConnectionRecord, ts *store.TokenRecord, res *Result) error {
	if ts.RefreshToken == "" && ts.AccessToken == "" {
		res.RevokeSkipped = "the token record holds no token"
		return nil
	}
	prov, err := oc.Resolve(ctx, &conn.Connection)
	if err == nil {
		// The metadata learnt at authorization fills the entry's templates (Zoho's data
		// center, Stripe's connected account); endpoints the connection names stay.
		prov, err = prov.WithMetadata(ts.Metadata)
	}
	if err != nil {
		return fmt.Errorf("finding the provider's revocation endpoint: %w", err)
	}
	if prov.RevocationURL == "" {
		res.RevokeSkipped = "the provider has no token revocation endpoint (set revocation_url on the connection if it has one); remove the app's access in the provider's console to end the grant there"
		return nil
	}
	if err := checkRevocation(ctx, st, conn, ts, prov.RevocationURL); err != nil {
		var moved *authconn.EndpointMovedError
		if !errors.As(err, &moved) {
			return err
		}
		res.RevokeSkipped = err.Error() + "; nothing was sent, so the tokens stay valid at the provider that issued them until they expire (remove the app's access in its console to end the grant there)"
		return nil
	}
	creds, _, err := Credentials(ctx, st, &conn.Connection)
	var moved *authconn.SecretMovedError
	if errors.As(err, &moved) {
		res.RevokeSkipped = "the tokens were not revoked at the provider, because " + err.Error()
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the client's credentials (the revocation request must authenticate the client): %w", err)
	}
	if prov.RevokesWithAccessToken() {
		return revokeGrantWithAccessToken(ctx, oc, prov, creds, ts, res)
	}
	if ts.RefreshToken != "" {
		if err := oc.Revoke(ctx, prov, creds, ts.RefreshToken, "refresh_token"); err != nil {
			return fmt.Errorf("revoking the refresh token: %w", err)
		}
		res.Revoked = append(res.Revoked, "refresh_token")
	}
	if ts.AccessToken != "" {
		if err := oc.Revoke(ctx, prov, creds, ts.AccessToken, "access_token"); err != nil {
			if len(res.Revoked) == 0 {
				return fmt.Errorf("revoking the access token: %w", err)
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("the refresh token was revoked, but revoking the access token failed (%v); it stays valid at the provider until %s", err, ts.Expiry.Format(time.RFC3339)))
		} else {
			res.Revoked = append(res.Revoked, "access_token")
		}
	}
	return nil
}

// revokeGrantWithAccessToken ends the grant with the provider's API call, which takes the
// access token (never the refresh token, which would go to the API as a bearer token).
func revokeGrantWithAccessToken(ctx context.Context, oc *oauth.Client, prov *oauth.Provider, creds oauth.Credentials, ts *store.TokenRecord, res *Result) error {
	if ts.AccessToken == "" {
		res.RevokeSkipped = "the provider revokes a grant with its access token, and the token record holds none; remove the app's access in the provider's console to end the grant there"
		return nil
	}
	if err := oc.Revoke(ctx, prov, creds, ts.AccessToken, "access_token"); err != nil {
		return fmt.Errorf("revoking the grant with the access token: %w", err)
	}
	res.Revoked = append(res.Revoked, "access_token")
	if ts.RefreshToken != "" {
		res.Revoked = append(res.Revoked, "refresh_token")
	}
	return nil
}

// checkRevocation reports whether the tokens of ts may be sent to revocationURL: the origin
// recorded at authorization (IssuedBy), or for an older record, see CheckUnbound.
func checkRevocation(ctx context.Context, st Store, conn *store.ConnectionRecord, ts *store.TokenRecord, revocationURL string) error {
	if ts.IssuedBy != nil {
		return ts.IssuedBy.CheckRevocation(revocationURL)
	}
	to, err := authconn.Origin(revocationURL)
	if err != nil {
		to = revocationURL
	}
	return CheckUnbound(ctx, st, conn, &ts.TokenSet, "revocation endpoint", to, "tokens")
}

// acquireLease takes the connection's refresh lease, waiting while a refresh runs.
func acquireLease(ctx context.Context, st Store, name string, o Options) (*store.Lease, error) {
	holder := o.Holder
	if holder == "" {
		holder = store.LeaseHolder("revoke")
	}
	wait := o.LeaseWait
	if wait <= 0 {
		wait = 30 * time.Second
	}
	l, err := store.AcquireLeaseWaiting(ctx, st, name, holder, 2*time.Minute, wait, 500*time.Millisecond)
	switch {
	case err == nil:
		return l, nil
	case errors.Is(err, store.ErrLeaseHeld):
		return nil, fmt.Errorf("%w: a refresh of %q is in progress; run the command again in a minute", err, name)
	case err == ctx.Err():
		return nil, err
	}
	return nil, fmt.Errorf("taking the refresh lease of %q: %w", name, err)
}
