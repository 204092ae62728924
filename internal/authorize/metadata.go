package authorize

import (
	"context"
	"errors"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/tokens"
)

// captureMetadata fills ts.Metadata and ts.APIBaseURL after an exchange with prov: the
// values its catalog entry keeps from the callback cb (nil for the device flow) and the
// token answer tok, then those of the entry's post-connect call (made with the new access
// token), and the entry's API base URL filled from them. When fill (the connection sets no
// endpoint itself: connection.FillsWithMetadata), it also binds ts to the endpoints as they
// are filled with the metadata (ts.IssuedBy), where a refresh will send the refresh token.
//
// A failed metadata call or template does not fail the authorization: the tokens are
// stored, status authorized, and ts.LastError says what failed (tokens.MetadataNote); the
// returned warning says the same to the person authorizing. Empty when nothing failed.
func captureMetadata(ctx context.Context, oc *oauth.Client, prov *oauth.Provider, fill bool, cb *oauth.Callback, tok *oauth.Token, ts *authconn.TokenSet) string {
	md := prov.Metadata(cb, tok)
	var failed error
	more, err := oc.FetchMetadata(ctx, prov, tok.AccessToken, md)
	switch {
	case err != nil:
		failed = err
	case len(more) > 0:
		if md == nil {
			md = map[string]string{}
		}
		for k, v := range more {
			md[k] = v
		}
	}
	ts.Metadata = md
	if base, err := prov.APIBaseURL(md); err != nil {
		failed = errors.Join(failed, err)
	} else {
		ts.APIBaseURL = base
	}
	if bound, err := prov.WithMetadata(md); err == nil && fill {
		ts.IssuedBy = bound.Issuance()
	}
	if failed == nil {
		return ""
	}
	tokens.NoteMetadataFailure(ts, failed, tok.ReceivedAt)
	return ts.LastError
}

// accountValues are the values the entry's account keys (realm_param) are looked up in: the
// callback's extra values, and the connection's metadata for a key the callback lacks (a
// tenant learnt from the token answer or the post-connect call), so that a
// re-authorization into another tenant meets the account rule (AccountMismatchError).
func accountValues(extras, metadata map[string]string) map[string]string {
	if len(metadata) == 0 {
		return extras
	}
	out := make(map[string]string, len(extras)+len(metadata))
	for k, v := range metadata {
		out[k] = v
	}
	for k, v := range extras {
		if v != "" {
			out[k] = v
		}
	}
	return out
}
