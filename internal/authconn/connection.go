package authconn

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// TypeOAuth2 is the only connection type supported today.
const TypeOAuth2 = "TYPE_OAUTH2"

// Types lists the allowed values of Connection.Type.
var Types = []string{TypeOAuth2}

// ValidateType reports whether t is an allowed connection type.
func ValidateType(t string) error {
	for _, ok := range Types {
		if t == ok {
			return nil
		}
	}
	return fmt.Errorf("invalid connection type %q: allowed: %s", t, strings.Join(Types, ", "))
}

// Connection is the configuration of one OAuth2 connection. It holds no secret.
type Connection struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	ProviderURL   string   `json:"provider_url"`
	IssuerURL     string   `json:"issuer_url,omitempty"`
	ClientID      string   `json:"client_id"`
	AuthURL       string   `json:"auth_url,omitempty"`
	TokenURL      string   `json:"token_url,omitempty"`
	RevocationURL string   `json:"revocation_url,omitempty"`
	Scopes        []string `json:"scopes,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate reports every problem with c in one error.
func (c *Connection) Validate() error {
	var errs []error
	if err := ValidateName(c.Name); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateType(c.Type); err != nil {
		errs = append(errs, err)
	}
	if c.ProviderURL == "" {
		errs = append(errs, errors.New("provider_url is required"))
	} else if err := ValidateURL("provider_url", c.ProviderURL); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateClientID(c.ClientID); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []struct{ name, v string }{
		{"issuer_url", c.IssuerURL}, {"auth_url", c.AuthURL}, {"token_url", c.TokenURL}, {"revocation_url", c.RevocationURL},
	} {
		if f.v != "" {
			if err := ValidateURL(f.name, f.v); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, s := range c.Scopes {
		if err := ValidateScope(s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
