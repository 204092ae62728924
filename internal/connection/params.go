package connection

import (
	"fmt"
	"strings"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
)

// UnknownProviderError is a provider name that is not in the catalog.
type UnknownProviderError struct {
	Name  string
	Known []string
}

func (e *UnknownProviderError) Error() string {
	return fmt.Sprintf("provider %q is not in the catalog: use one of %s, or leave it empty to detect it from provider_url and issuer_url",
		authconn.Sanitize(e.Name, 64), strings.Join(e.Known, ", "))
}

// ProviderNames returns the names of the catalog's entries, the generic one last.
func ProviderNames() []string {
	var out []string
	for _, p := range oauth.Presets {
		out = append(out, p.Name)
	}
	return append(out, oauth.Generic.Name)
}

// EntryOf returns the catalog entry of c: the one c.Provider names, else the one its
// provider_url's or issuer_url's host selects, else the generic one. An unknown name is an
// *UnknownProviderError.
func EntryOf(c *authconn.Connection) (*oauth.Preset, error) {
	if c.Provider == "" {
		p, _ := oauth.PresetFor(c.ProviderURL, c.IssuerURL)
		return p, nil
	}
	if p := oauth.PresetNamed(c.Provider); p != nil {
		return p, nil
	}
	return nil, &UnknownProviderError{Name: c.Provider, Known: ProviderNames()}
}

// CheckProvider reports whether c's provider is in the catalog and c's parameters fit its
// entry (catalog.Entry.CheckValues: each declared, matching its pattern, the required ones
// present), and that its host overrides name hosts of the entry (oauth.CheckHostOverrides).
// The error names the parameter and the pattern, never the value. Create runs it;
// the Terraform provider runs it at plan time and `tokend create` before reading the secret.
func CheckProvider(c *authconn.Connection) error {
	p, err := EntryOf(c)
	if err != nil {
		return err
	}
	if err := p.CheckValues(c.Params); err != nil {
		return err
	}
	return oauth.CheckHostOverrides(c)
}

// ParseSecretExpiry parses a client secret's expiry: an RFC 3339 timestamp (empty: none).
func ParseSecretExpiry(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid client_secret_expires_at %q: an RFC 3339 timestamp such as 2027-06-30T00:00:00Z "+
			"(the secret's expiry shown at the provider; Microsoft Entra secrets last at most two years)", authconn.Sanitize(s, 64))
	}
	return t, nil
}

// SecretExpiryWarning returns a warning when a client secret's expiry at is already past at
// now; "" otherwise.
func SecretExpiryWarning(name string, at, now time.Time) string {
	if at.IsZero() || at.After(now) {
		return ""
	}
	return fmt.Sprintf("The client secret of connection %q expired on %s: the provider refuses it from then on. "+
		"Create a new secret at the provider, write it (client_secret_wo with a new client_secret_wo_version, or tokend create again), "+
		"and set client_secret_expires_at to its expiry.", name, at.UTC().Format(time.RFC3339))
}
