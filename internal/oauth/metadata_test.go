package oauth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	tenantA = "fe79f7dd-b6d4-4a92-ba7b-538af6289c58"
	tenantB = "7f1c2a44-6f6a-4b3c-8e11-1234567890ab"
)

func xeroTenant(id, name string) map[string]any {
	return map[string]any{"id": "c-" + id[:4], "tenantId": id, "tenantName": name, "tenantType": "ORGANISATION"}
}

// TestFetchMetadataPicksTheTenant: the post-connect call goes to its own host with the token
// as the API takes it, and the entry's pick rule chooses the item.
func TestFetchMetadataPicksTheTenant(t *testing.T) {
	var answer []any
	c, rs := routed(t, func(seen) (int, any) { return 200, answer })
	p := namedProvider(t, c, "xero", nil)
	answer = []any{xeroTenant(tenantA, "Demo Company (NZ)")}
	m, err := c.FetchMetadata(context.Background(), p, "at-1", nil)
	if err != nil || m["tenant_id"] != tenantA || m["tenant_name"] != "Demo Company (NZ)" || m["tenant_type"] != "ORGANISATION" {
		t.Fatalf("one tenant: %v %v", m, err)
	}
	if s := rs.last(t); s.Method != "GET" || s.Host != "api.xero.com" || s.Path != "/connections" || s.Auth != "Bearer at-1" {
		t.Errorf("call: %s %s%s (bearer %v)", s.Method, s.Host, s.Path, s.Auth == "Bearer at-1")
	}
	answer = []any{xeroTenant(tenantA, "A"), xeroTenant(tenantB, "B")}
	m, err = c.FetchMetadata(context.Background(), namedProvider(t, c, "xero", map[string]string{"tenant_id": tenantB}), "at-1", nil)
	if err != nil || m["tenant_id"] != tenantB || m["tenant_name"] != "B" {
		t.Errorf("match by param: %v %v", m, err)
	}
}

// TestFetchMetadataFailureModes: each failure is a *MetadataError of its kind, with a message
// that says the tokens are kept and never holds the token. The answering cases have 10 s
// to get their answer; in the timeout case the server holds the answer until the call has
// given up at its short deadline.
func TestFetchMetadataFailureModes(t *testing.T) {
	var status int
	var answer any
	var hold chan struct{} // not nil: answer only once it is closed
	c, _ := routed(t, func(seen) (int, any) {
		if hold != nil {
			<-hold
		}
		return status, answer
	})
	p := namedProvider(t, c, "xero", nil)
	for _, tc := range []struct {
		name   string
		status int
		answer any
		hang   bool
		params map[string]string
		want   MetadataErrorKind
	}{
		{"several, no pick", 200, []any{xeroTenant(tenantA, "A"), xeroTenant(tenantB, "B")}, false, nil, MetadataSeveral},
		{"none", 200, []any{}, false, nil, MetadataNone},
		{"no match", 200, []any{xeroTenant(tenantA, "A")}, false, map[string]string{"tenant_id": tenantB}, MetadataNone},
		{"call fails", 500, map[string]any{"error": "x"}, false, nil, MetadataCallFailed},
		{"unauthorized", 401, map[string]any{}, false, nil, MetadataCallFailed},
		{"not a list", 200, "hello", false, nil, MetadataNone},
		{"times out", 200, []any{}, true, nil, MetadataTimeout},
	} {
		status, answer, hold = tc.status, tc.answer, nil
		pp := p
		if tc.params != nil {
			pp = namedProvider(t, c, "xero", tc.params)
		}
		within := 10 * time.Second
		if tc.hang {
			hold, within = make(chan struct{}), 150*time.Millisecond
		}
		ctx, cancel := context.WithTimeout(context.Background(), within)
		m, err := c.FetchMetadata(ctx, pp, "secret-at", nil)
		cancel()
		if hold != nil {
			close(hold) // the call has ended: let the handler finish
		}
		var me *MetadataError
		if !errors.As(err, &me) || me.Kind != tc.want {
			t.Errorf("%s: %v, %v; want a %s MetadataError", tc.name, m, err, tc.want)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "secret-at") || !strings.Contains(msg, "tokens are kept") {
			t.Errorf("%s: message %q", tc.name, msg)
		}
	}
}

// TestFetchMetadataWithoutACall: an entry without a post-connect call fetches nothing.
func TestFetchMetadataWithoutACall(t *testing.T) {
	c, rs := routed(t, okToken)
	m, err := c.FetchMetadata(context.Background(), namedProvider(t, c, "google", nil), "at", nil)
	if m != nil || err != nil || len(rs.reqs) != 0 {
		t.Errorf("%v %v, %d requests", m, err, len(rs.reqs))
	}
}

// TestFetchMetadataSendsTheBody: a call with a body (a GraphQL query) posts it as JSON.
func TestFetchMetadataSendsTheBody(t *testing.T) {
	c, rs := routed(t, func(s seen) (int, any) {
		if s.Method != "POST" || s.ContentType != "application/json" || s.JSON["query"] != "{ organization { id } }" {
			return 400, map[string]any{"errors": []any{map[string]any{"message": "bad query"}}}
		}
		return 200, map[string]any{"data": map[string]any{"organization": map[string]any{"id": "org-1"}}}
	})
	p := entryProvider(t, c, acme(`, "metadata": {"call": {"url": "https://api.acme.test/graphql", "method": "POST",
	  "body": "{\"query\": \"{ organization { id } }\"}", "items": "data.organization", "pick": "only",
	  "values": [{"name": "organization_id", "from": "id"}]}}`), map[string]string{"sub": "a"})
	m, err := c.FetchMetadata(context.Background(), p, "at-1", nil)
	if err != nil || m["organization_id"] != "org-1" {
		t.Fatalf("got %v %v (request %+v)", m, err, rs.last(t))
	}
}
