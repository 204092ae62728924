package broker

import (
	"context"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/tokens"
)

// metadataFetcher is the optional part of OAuth that makes a catalog entry's post-connect
// metadata call (*oauth.Client is one).
type metadataFetcher interface {
	FetchMetadata(ctx context.Context, p *oauth.Provider, token string, known map[string]string) (map[string]string, error)
}

// updateMetadata applies the metadata rule to next, the record after a refresh or a new
// client-credentials token t from p: the values the entry keeps from the token answer
// replace their keys (tokens.MergeMetadata), and the API base URL is filled again when they
// changed or was never filled. A client-credentials record without metadata makes the
// entry's post-connect call (there is no authorization to make it); a failed call keeps the
// token, says so in LastError, and is made again with the next token. A template that cannot be filled keeps the old base URL.
func (b *Broker) updateMetadata(ctx context.Context, p *oauth.Provider, t *oauth.Token, next *authconn.TokenSet) {
	changed := tokens.MergeMetadata(next, p.Metadata(nil, t))
	if next.Grant == authconn.GrantClientCredentials && len(next.Metadata) == 0 {
		if mf, ok := b.o.OAuth.(metadataFetcher); ok {
			more, err := mf.FetchMetadata(ctx, p, t.AccessToken, nil)
			if err != nil {
				tokens.NoteMetadataFailure(next, err, t.ReceivedAt)
			} else {
				changed = tokens.MergeMetadata(next, more) || changed
			}
		}
	}
	if !changed && next.APIBaseURL != "" {
		return
	}
	if base, err := p.APIBaseURL(next.Metadata); err == nil {
		next.APIBaseURL = base
	}
}
