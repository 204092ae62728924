package vaultclient

import (
	"context"
	"net/http"
	"sync"

	vault "github.com/hashicorp/vault/api"
)

// Consistency modes of Config.Consistency.
const (
	// ConsistencyStrong (the default) sends the requests marked with ConsistentReads with the
	// newest X-Vault-Index this client has seen (from its own writes: after taking a refresh
	// lease, that index covers every write committed before). A node that has not applied it
	// yet answers 412 and vault/api asks again. Servers that return no index (Vault Community,
	// whose standbys forward every request to the active node) get no header: they are
	// consistent already.
	ConsistencyStrong = "strong"
	// ConsistencyForward also sends X-Vault-Forward: active-node and X-Vault-Inconsistent:
	// forward-active-node, so marked reads are served by the active node. Vault Enterprise
	// needs allow_forwarding_via_header in the server's replication configuration (without
	// it, and on Vault Community, Vault refuses such requests with 400).
	ConsistencyForward = "forward"
	// ConsistencyEventual sends every request as it is: reads on a standby may lag.
	ConsistencyEventual = "eventual"
)

type consistentKey struct{}

// ConsistentReads marks ctx: Vault requests made with it must see every write committed
// before them. Use it for the reads that decide what is presented to an OAuth2 provider.
func ConsistentReads(ctx context.Context) context.Context {
	return context.WithValue(ctx, consistentKey{}, true)
}

func isConsistent(ctx context.Context) bool {
	v, _ := ctx.Value(consistentKey{}).(bool)
	return v
}

// consistency is the transport that adds the consistency headers to marked requests and
// remembers the newest X-Vault-Index that Vault returned.
type consistency struct {
	base http.RoundTripper
	mode string

	mu    sync.Mutex
	index string
}

// RoundTrip sends req, with the headers of the mode when it is marked.
func (c *consistency) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.mode != ConsistencyEventual && isConsistent(req.Context()) {
		req = req.Clone(req.Context())
		if idx := c.newest(); idx != "" {
			req.Header.Set(vault.HeaderIndex, idx)
		}
		if c.mode == ConsistencyForward {
			req.Header.Set(vault.HeaderForward, "active-node")
			req.Header.Set(vault.HeaderInconsistent, "forward-active-node")
		}
	}
	resp, err := c.base.RoundTrip(req)
	if resp != nil {
		if idx := resp.Header.Get(vault.HeaderIndex); idx != "" {
			c.record(idx)
		}
	}
	return resp, err
}

func (c *consistency) newest() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.index
}

// record keeps idx when it is newer than the one kept (or when either cannot be compared).
func (c *consistency) record(idx string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index != "" {
		cur, err1 := vault.ParseReplicationState(c.index, nil)
		next, err2 := vault.ParseReplicationState(idx, nil)
		if err1 == nil && err2 == nil && next.LocalIndex < cur.LocalIndex {
			return
		}
	}
	c.index = idx
}
