package broker

import (
	"context"
	"errors"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// checkBinding reports whether the refresh token of ts may be sent to p's refresh endpoint
// (its entry's refresh URL, else its token endpoint), resolved from conn now: only to the
// origin recorded when the chain was issued (ts.IssuedBy.CheckRefresh). It returns an
// *authconn.EndpointMovedError otherwise, which marks the connection needs_reauthorization.
// A client-credentials record has no refresh token to protect; its client secret is bound
// by connection.Credentials.
//
// A record written by a version that kept no IssuedBy is let through only when the
// connection's endpoint origins are the same now as in the configuration that was current
// when it was authorized (read from Vault's version history, whose times Vault sets): a
// configuration moved since then, or whose history is gone, is refused. The refresh that
// passes records IssuedBy.
func (b *Broker) checkBinding(ctx context.Context, conn *store.ConnectionRecord, ts *store.TokenRecord, p *oauth.Provider) error {
	if conn.UsesClientCredentials() || ts.Grant == authconn.GrantClientCredentials {
		return nil
	}
	if ts.IssuedBy != nil {
		return ts.IssuedBy.CheckRefresh(p.RefreshEndpoint())
	}
	return connection.CheckUnbound(ctx, b.o.Store, conn, &ts.TokenSet, "token endpoint", p.Issuance().TokenOrigin, "refresh token")
}

// credOutcome is the metrics outcome of a credential that could not be read.
func credOutcome(err error) string {
	var moved *authconn.SecretMovedError
	if errors.As(err, &moved) {
		return OutcomeRejected
	}
	return OutcomeStoreError
}
