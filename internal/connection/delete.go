package connection

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// Delete revokes the tokens of connection name (see Revoke) and then removes its
// configuration, client secret, tokens and refresh lease from Vault. A connection that does
// not exist is not an error: Result.Found is false and any leftover records are removed.
//
// Failure policy: when revocation fails the connection is kept and the error says so, unless
// o.Force (then Result.RevokeError). When Vault refuses (403) what revocation needs and
// nothing was revoked, the delete fails too, unless o.DeleteIfForbidden (then
// Result.Forbidden). Other Vault errors, and a refresh holding the lease past o.LeaseWait,
// always fail: nothing is lost, and running it again finishes the job. Result.Warning says
// what the operator should know.
func Delete(ctx context.Context, st Store, oc *oauth.Client, name string, o Options) (Result, error) {
	hide := secretsOf(ctx, st, name)
	res, err := deleteRevoking(ctx, st, oc, name, o)
	if err != nil && o.DeleteIfForbidden && vaultForbidden(err) && len(res.Revoked) == 0 {
		res, err = deleteForbidden(ctx, st, name, res, err)
	}
	o.audit(ctx, audit.ConnectionDeleted, name, err)
	return res.redacted(hide), redactError(err, hide)
}

// deleteRevoking is Delete without the forbidden fallback and before redaction.
func deleteRevoking(ctx context.Context, st Store, oc *oauth.Client, name string, o Options) (Result, error) {
	res := Result{Name: name}
	if err := authconn.ValidateName(name); err != nil {
		return res, err
	}
	conn, err := st.GetConnection(ctx, name)
	switch {
	case err == nil:
		res.Found = true
		if err := revoke(ctx, st, oc, conn, o, &res); err != nil {
			return res, fmt.Errorf("%w; the connection was not deleted", err)
		}
	case errors.Is(err, store.ErrNotFound):
		// Nothing to revoke with: no configuration. Remove whatever is left.
	default:
		return res, fmt.Errorf("reading connection %q: %w", name, err)
	}
	if err := st.DeleteConnection(ctx, name); err != nil {
		return res, fmt.Errorf("deleting connection %q from Vault: %w; run the delete again", name, err)
	}
	res.TokensDeleted, res.Deleted = true, true
	if res.Found && !o.NoDeletedEvent {
		// The id tokend serve gives the deletion it reads in the change log: stored once.
		res.enqueue(ctx, st, authconn.Event{ID: authconn.EventID(authconn.EventDeleted, name, conn.Version),
			Type: authconn.EventDeleted, Connection: name, Status: authconn.StatusNotAuthorized})
	}
	return res, nil
}

// deleteForbidden removes the records of connection name without revoking, after Vault
// refused (forbidden) what revocation needs: Options.DeleteIfForbidden.
func deleteForbidden(ctx context.Context, st Store, name string, res Result, forbidden error) (Result, error) {
	if err := st.DeleteConnection(ctx, name); err != nil {
		return res, fmt.Errorf("deleting connection %q from Vault: %w; run the delete again", name, err)
	}
	res.Forbidden, res.TokensDeleted, res.Deleted = forbidden, true, true
	return res, nil
}

// vaultForbidden reports whether err comes from Vault refusing the request (403).
func vaultForbidden(err error) bool {
	var ve *store.VaultError
	return errors.As(err, &ve) && ve.StatusCode == http.StatusForbidden
}
