package store

import (
	"errors"
	"fmt"
	"strings"
)

// ValidateClientID reports whether id is an acceptable OAuth2 client id: anything but blank.
// Connection.Validate applies the same rule; the Terraform provider calls this at plan time
// so that its message is the CLI's.
func ValidateClientID(id string) error {
	if strings.TrimSpace(id) == "" {
		return errors.New("client_id is required: copy it from the provider's console")
	}
	return nil
}

// ValidateScope reports whether s is an acceptable single OAuth2 scope: not empty, without
// spaces or commas (each scope is its own list element). Connection.Validate applies the
// same rule to every element of Scopes.
func ValidateScope(s string) error {
	if s == "" || strings.ContainsAny(s, " \t\n,") {
		return fmt.Errorf("invalid scope %q: give each scope as its own list element, without spaces or commas", s)
	}
	return nil
}

// ValidateClientSecret reports whether secret is acceptable as a client secret: anything but
// blank. PutClientSecret applies the same rule. The message never contains the value.
func ValidateClientSecret(secret string) error {
	if strings.TrimSpace(secret) == "" {
		return errors.New("the client secret is empty: copy it from the provider's console")
	}
	return nil
}
