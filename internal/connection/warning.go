package connection

import (
	"fmt"
	"strings"
)

// Warning is what an operator should know about a Delete that succeeded: tokens
// that may stay valid at the provider, and how to end the grant by hand. Its text holds no
// secret when the Result came from Revoke or Delete.
type Warning struct {
	Summary string
	Detail  string
}

// Warning turns what Delete could not revoke at the provider (Forbidden, RevokeError and
// Warnings) into a Warning; ok is false when there is nothing to warn about.
func (res Result) Warning() (w Warning, ok bool) {
	if res.Forbidden != nil {
		return Warning{Summary: "Tokens not revoked at the OAuth2 provider", Detail: forbiddenDetail(res.Name, res.Forbidden)}, true
	}
	if res.RevokeError == nil && len(res.Warnings) == 0 {
		return Warning{}, false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The connection %q was deleted from Vault (configuration, client secret and tokens), ", res.Name)
	if res.RevokeError != nil {
		w.Summary = "Tokens not revoked at the OAuth2 provider"
		fmt.Fprintf(&b, "but revoking its tokens at the OAuth2 provider failed: %v.", res.RevokeError)
	} else {
		w.Summary = "Tokens only partly revoked at the OAuth2 provider"
		b.WriteString("but not every token could be revoked at the OAuth2 provider.")
	}
	for _, s := range res.Warnings {
		if s = strings.TrimSuffix(strings.TrimSpace(s), "."); s != "" {
			fmt.Fprintf(&b, " %s%s.", strings.ToUpper(s[:1]), s[1:])
		}
	}
	b.WriteString("\n\n" + revokeByHand)
	w.Detail = b.String()
	return w, true
}

// forbiddenDetail is the detail of the warning given when the records were deleted without
// revocation because Vault refused what revocation needs (err).
func forbiddenDetail(name string, err error) string {
	return fmt.Sprintf("The connection %q was deleted from Vault (configuration, client secret and tokens), "+
		"but its tokens were not revoked at the OAuth2 provider: the Vault token may not do what revocation "+
		"needs (%v). Revocation reads the connection's tokens and client secret and takes its refresh lease: "+
		"grant the Terraform role read on .../connections/+/tokens and .../connections/+/client-secret and "+
		"create, update and read on .../connections/+/refresh-lease (docs/vault-layout.md; the same for the "+
		"role `tokend delete` runs with) for a delete to revoke, or run `tokend revoke NAME` before deleting.\n\n%s",
		name, err, revokeByHand)
}

// revokeByHand ends every warning about tokens that were not revoked.
const revokeByHand = "The tokens that were not revoked may stay valid at the provider until they expire " +
	"(a refresh token often for months). To end the grant now, revoke the app's access by hand in the " +
	"provider's console, or in the security settings of the account that authorized the connection " +
	"(Google: https://myaccount.google.com/connections, \"Third-party apps & services\"). " +
	"Revocation is best effort, so that a provider that is down cannot block the destroy."
