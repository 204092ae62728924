package console

import (
	"context"
	"time"
)

// KeySummary is an API key as the status page lists it: its id, what it may do and what it
// is for; never its secret or hash.
type KeySummary struct {
	ID          string
	Description string
	Admin       bool
	// Grants are its permissions per connection pattern, as `tokend keys create --grant`
	// takes them ("quickbooks-*=proxy", "google-*=token,proxy").
	Grants    []string
	CreatedAt time.Time
}

// keyRow is one API key on the status page.
type keyRow struct {
	ID, Description, Created string
	Admin                    bool
	Grants                   []string
}

// keyList is the status page's read-only list of API keys.
type keyList struct {
	Shown bool // Options.Keys is set
	Rows  []keyRow
	Error string
}

// keys lists the API keys for the status page (not shown when Options.Keys is nil).
func (c *Console) keys(ctx context.Context) keyList {
	if c.o.Keys == nil {
		return keyList{}
	}
	sums, err := c.o.Keys(ctx)
	if err != nil {
		c.log.Warn("status page: listing API keys failed", "error", err)
		return keyList{Shown: true, Error: "Cannot read the API keys from Vault right now; try again shortly."}
	}
	rows := make([]keyRow, 0, len(sums))
	for _, k := range sums {
		rows = append(rows, keyRow{ID: k.ID, Description: short(k.Description, 80), Admin: k.Admin, Grants: k.Grants,
			Created: k.CreatedAt.UTC().Format("2006-01-02 15:04")})
	}
	return keyList{Shown: true, Rows: rows}
}
