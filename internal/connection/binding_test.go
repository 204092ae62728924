package connection

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// fixedCreds is a CredentialStore with one secret.
type fixedCreds struct{ cs store.ClientSecret }

func (f fixedCreds) GetClientSecret(context.Context, string) (*store.ClientSecret, error) {
	return &f.cs, nil
}

func (f fixedCreds) GetClientAssertionKey(_ context.Context, name string) (*store.ClientAssertionKey, error) {
	return nil, &store.NotFoundError{Kind: "client assertion key", Name: name}
}

// TestCredentialsAreSentOnlyWhereTheyWereWrittenFor: a secret written for other endpoint
// origins than the connection's now is not returned; one without recorded origins (an older
// version's) is.
func TestCredentialsAreSentOnlyWhereTheyWereWrittenFor(t *testing.T) {
	conn := &authconn.Connection{Name: "x", ProviderURL: "https://idp.example", ClientID: "id", TokenURL: "https://attacker.example/token"}
	st := fixedCreds{store.ClientSecret{Value: "the-secret", EndpointOrigins: []string{"https://idp.example:443"}}}
	creds, _, err := Credentials(context.Background(), st, conn)
	var moved *authconn.SecretMovedError
	if !errors.As(err, &moved) || creds.ClientSecret != "" {
		t.Fatalf("a secret written for https://idp.example was handed out for a connection that points at https://attacker.example: %v", err)
	}
	for _, want := range []string{"was written for https://idp.example:443", "https://attacker.example:443", "bump client_secret_wo_version in the same apply", "tokend create"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "the-secret") {
		t.Fatal("the error holds the secret")
	}
	conn.TokenURL = "https://IDP.example:443/oauth/token"
	if creds, _, err := Credentials(context.Background(), st, conn); err != nil || creds.ClientSecret != "the-secret" {
		t.Fatalf("same origins: %v", err)
	}
	legacy := fixedCreds{store.ClientSecret{Value: "the-secret"}}
	conn.TokenURL = "https://elsewhere.example/token"
	if _, _, err := Credentials(context.Background(), legacy, conn); err != nil {
		t.Fatalf("a secret without recorded origins (older version) was refused: %v", err)
	}
}
