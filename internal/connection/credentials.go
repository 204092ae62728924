package connection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// CredentialStore reads a connection's client credentials (*store.Store does).
type CredentialStore interface {
	GetClientSecret(ctx context.Context, name string) (*store.ClientSecret, error)
	GetClientAssertionKey(ctx context.Context, name string) (*store.ClientAssertionKey, error)
}

// Credentials reads the client credentials of conn from st: its client assertion key when
// it authenticates with private_key_jwt, else its client secret. version is the KV v2 version
// of the record read (for the previous-secret fallback). A missing record is an error that
// matches store.ErrNotFound and says how to set it. A credential written for other endpoint
// origins than conn's now (CheckOrigins) is an *authconn.SecretMovedError: it is not
// returned, so nothing is sent to the endpoint it was not written for.
func Credentials(ctx context.Context, st CredentialStore, conn *authconn.Connection) (creds oauth.Credentials, version int, err error) {
	if conn.ClientAuth == authconn.ClientAuthPrivateKeyJWT {
		k, err := st.GetClientAssertionKey(ctx, conn.Name)
		if err != nil {
			return oauth.Credentials{}, 0, missing(conn.Name, "client assertion key", "client_assertion_key_wo", "--client-assertion-key-file FILE", err)
		}
		if err := checkCredential(ctx, st, conn, "client assertion key", k.EndpointOrigins, k.WrittenAt); err != nil {
			return oauth.Credentials{}, 0, err
		}
		creds, err := oauth.KeyCredentials(conn.ClientID, k.PEM, conn.AssertionKeyID)
		return creds, k.Version, err
	}
	cs, err := st.GetClientSecret(ctx, conn.Name)
	if err != nil {
		return oauth.Credentials{}, 0, missing(conn.Name, "client secret", "client_secret_wo", "--client-secret-file FILE", err)
	}
	if err := checkCredential(ctx, st, conn, "client secret", cs.EndpointOrigins, cs.WrittenAt); err != nil {
		return oauth.Credentials{}, 0, err
	}
	return oauth.Credentials{ClientID: conn.ClientID, ClientSecret: cs.Value}, cs.Version, nil
}

// checkCredential is CheckOrigins, and for a credential stored without origins (by a version
// before they were kept) it compares conn with the configuration that was current when Vault
// stored the credential (writtenAt), when st can read the history (History): a connection
// moved since then does not get it.
func checkCredential(ctx context.Context, st CredentialStore, conn *authconn.Connection, what string, writtenFor []string, writtenAt time.Time) error {
	h, ok := st.(History)
	if len(writtenFor) > 0 || !ok || writtenAt.IsZero() {
		return CheckOrigins(conn, what, writtenFor)
	}
	then, err := h.ConnectionAt(ctx, conn.Name, writtenAt)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &authconn.SecretMovedError{Name: conn.Name, What: what, Now: authconn.EndpointOrigins(conn)}
	case err != nil:
		return fmt.Errorf("reading the configuration %q had when its %s was written (to check where it may be sent): %w", conn.Name, what, err)
	}
	return CheckOrigins(conn, what, authconn.EndpointOrigins(&then.Connection))
}

// CheckOrigins reports whether a credential (what: "client secret", "client assertion key")
// written for the endpoint origins writtenFor may be sent for conn: conn's endpoint origins
// (authconn.EndpointOrigins) must be exactly those. A credential stored without origins (by
// a version before they were kept) passes: see docs/vault-layout.md. The error is an
// *authconn.SecretMovedError that says how to write the credential again.
func CheckOrigins(conn *authconn.Connection, what string, writtenFor []string) error {
	if len(writtenFor) == 0 {
		return nil
	}
	now := authconn.EndpointOrigins(conn)
	if authconn.SameOrigins(now, writtenFor) {
		return nil
	}
	return &authconn.SecretMovedError{Name: conn.Name, What: what, WrittenFor: writtenFor, Now: now}
}

// MissingCredentialError reports a connection without the credential its client
// authentication needs.
type MissingCredentialError struct {
	Name, What, Attribute, Flag string
}

func (e *MissingCredentialError) Error() string {
	return fmt.Sprintf("connection %q has no %s in Vault: set it with the Terraform provider (%s), or delete and re-create the connection with `tokend create ... %s`",
		e.Name, e.What, e.Attribute, e.Flag)
}

// Is makes errors.Is(err, store.ErrNotFound) true.
func (e *MissingCredentialError) Is(target error) bool { return target == store.ErrNotFound }

func missing(name, what, attr, flag string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return &MissingCredentialError{Name: name, What: what, Attribute: attr, Flag: flag}
	}
	return fmt.Errorf("reading the %s of %q: %w", what, name, err)
}
