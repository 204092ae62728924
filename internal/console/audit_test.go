package console

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
)

// records keeps audit records in memory.
type records struct {
	mu  sync.Mutex
	all []audit.Record
}

func (r *records) Record(_ context.Context, rec audit.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, rec)
}

// TestAdminActionsAreAudited: a refused sign-in, a sign-in, a revoke and a sign-out each
// leave one record with the admin key's id (none for the refused one), never the key.
func TestAdminActionsAreAudited(t *testing.T) {
	b := newPageBed(t)
	rec := &records{}
	b.c.o.Audit = rec
	b.do(t, http.MethodPost, "/ui/login", url.Values{"key": {"tk_nope_nope"}}, nil, "")
	c := b.signIn(t)
	ss, err := b.c.sessions.check(&http.Request{Header: http.Header{"Cookie": {c.String()}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	csrf := b.c.sessions.csrf(ss)
	b.do(t, http.MethodPost, "/ui/connections/google-oauth/revoke", url.Values{"csrf": {csrf}}, c, "https://tokend.example.com")
	b.do(t, http.MethodPost, "/ui/logout", url.Values{"csrf": {csrf}}, c, "https://tokend.example.com")
	want := []string{"admin.sign_in denied  ", "admin.sign_in success abcdefghijkl ", "admin.revoke success abcdefghijkl google-oauth",
		"admin.sign_out success abcdefghijkl "}
	if len(rec.all) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(rec.all), len(want), rec.all)
	}
	for i, r := range rec.all {
		got := string(r.Action) + " " + string(r.Outcome) + " " + r.Caller.ID + " " + r.Connection
		if got != want[i] || r.Caller.Kind != audit.CallerAdminSession {
			t.Errorf("record %d: %q (%s), want %q (admin_session)", i, got, r.Caller.Kind, want[i])
		}
	}
}
