package connection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// History reads the configuration a connection had at a time (*store.Store does).
type History interface {
	ConnectionAt(ctx context.Context, name string, at time.Time) (*store.ConnectionRecord, error)
}

// CheckUnbound decides where the tokens of ts, a token record written by a version that kept
// no IssuedBy, may be sent: only while conn (the configuration now) has the same endpoint
// origins as the configuration that was current when ts was authorized (from Vault's version
// history, whose times Vault sets, so a writer of the configuration cannot date a change
// back). endpoint ("token endpoint", "revocation endpoint"), to (the origin resolved now) and
// token ("refresh token", "tokens") word the *authconn.EndpointMovedError it returns when
// they differ, or when that configuration is no longer in the history. Other errors are
// Vault's.
func CheckUnbound(ctx context.Context, h History, conn *store.ConnectionRecord, ts *authconn.TokenSet, endpoint, to, token string) error {
	moved := &authconn.EndpointMovedError{Endpoint: endpoint, To: to, Token: token}
	then, err := h.ConnectionAt(ctx, conn.Name, ts.AuthorizedAt)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return moved
	case err != nil:
		return fmt.Errorf("reading the configuration %q had when it was authorized (to check where its tokens may go): %w", conn.Name, err)
	}
	if then.Version == conn.Version || authconn.SameOrigins(authconn.EndpointOrigins(&then.Connection), authconn.EndpointOrigins(&conn.Connection)) {
		return nil
	}
	return moved
}

// FillsWithMetadata reports whether the endpoints of c may be filled again with the
// connection's metadata (oauth.Provider.WithMetadata, which rebuilds them from the catalog
// entry): only when c sets none of them itself, since an operator's auth_url, token_url or
// revocation_url is where tokens go and must stay.
func FillsWithMetadata(c *authconn.Connection) bool {
	return c.AuthURL == "" && c.TokenURL == "" && c.RevocationURL == ""
}
