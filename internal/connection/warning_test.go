package connection

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestRevocationWarning covers the warning built from what Delete could not revoke, after
// the redaction Delete applies: the texts, and that no token or secret survives in it, even
// echoed in full or cut by the truncation of the provider's description.
func TestRevocationWarning(t *testing.T) {
	rt, at, secret := "rt-"+randomHex(16), "at-"+randomHex(16), "cs-"+randomHex(16)
	hide := []string{rt, at, "", "short", secret}

	if w, ok := (Result{Name: "c", Found: true, HadTokens: true,
		Revoked: []string{"refresh_token", "access_token"}}).redacted(hide).Warning(); ok {
		t.Errorf("warning for a complete revocation: %s: %s", w.Summary, w.Detail)
	}
	if _, ok := (Result{Name: "c", RevokeSkipped: "the connection has no tokens"}).redacted(hide).Warning(); ok {
		t.Error("warning for a connection without tokens")
	}

	cases := []struct {
		name string
		res  Result
		want []string
	}{
		{"provider down", Result{Name: "google-oauth-prod", Found: true, HadTokens: true,
			RevokeError: fmt.Errorf("revoking the refresh token: %w", &oauth.Error{Op: "revoke", Kind: oauth.KindTransient,
				StatusCode: 503, Code: "temporarily_unavailable", Description: "cannot revoke " + rt + " (client " + secret + ")"})},
			[]string{"Tokens not revoked at the OAuth2 provider", `The connection "google-oauth-prod" was deleted from Vault`,
				"revoking the refresh token: revoke failed (HTTP 503): temporarily_unavailable: cannot revoke [redacted] (client [redacted])"}},
		{"access token not revoked, description truncated", Result{Name: "qb", Found: true, HadTokens: true,
			Revoked: []string{"refresh_token"},
			Warnings: []string{"the refresh token was revoked, but revoking the access token failed (" + (&oauth.Error{Op: "revoke",
				Kind: oauth.KindRejected, StatusCode: 400, Code: "invalid_request", Description: "bad token " + at[:12] + "..."}).Error() +
				"); it stays valid at the provider until 2031-01-02T03:04:05Z"}},
			[]string{"Tokens only partly revoked at the OAuth2 provider", "The refresh token was revoked, but revoking the access token failed",
				"bad token [redacted]...", "until 2031-01-02T03:04:05Z."}},
		{"both", Result{Name: "x", RevokeError: errors.New("finding the provider's revocation endpoint: discovery failed"),
			Warnings: []string{"something else."}},
			[]string{"Tokens not revoked", "discovery failed.", " Something else.\n"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, ok := c.res.redacted(hide).Warning()
			if !ok {
				t.Fatal("no warning")
			}
			text := w.Summary + "\n" + w.Detail
			for _, w := range append(c.want, "may stay valid at the provider until they expire", "by hand in the provider's console",
				"https://myaccount.google.com/connections", "Revocation is best effort") {
				if !strings.Contains(text, w) {
					t.Errorf("warning does not contain %q:\n%s", w, text)
				}
			}
			for _, s := range []string{rt, at, at[:12], secret, "will be retried"} {
				if strings.Contains(text, s) {
					t.Errorf("warning contains %q:\n%s", s, text)
				}
			}
		})
	}

	if got := redact("short tokens stay: short, ab", []string{"short", "ab", ""}); got != "short tokens stay: short, ab" {
		t.Errorf("redact of values shorter than 6 bytes: %q", got)
	}
}
