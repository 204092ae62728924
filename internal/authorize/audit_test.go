package authorize

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

type lastRecord struct{ r audit.Record }

func (l *lastRecord) Record(_ context.Context, r audit.Record) { l.r = r }

// TestAuthorizationRecords: a first authorization, a re-authorization and failures are
// recorded with their action, outcome and reason code, never the error's text.
func TestAuthorizationRecords(t *testing.T) {
	cli := audit.Caller{Kind: audit.CallerCLI, ID: "alice"}
	for _, tc := range []struct {
		res  *Result
		err  error
		want string
	}{
		{&Result{}, nil, "connection.authorized success "},
		{&Result{Replaced: true}, nil, "connection.reauthorized success "},
		{nil, fmt.Errorf("x: %w", &TimeoutError{}), "connection.authorized failure timeout"},
		{nil, &AccountMismatchError{}, "connection.authorized failure account_mismatch"},
		{nil, errors.New("the provider said: secret-ish text"), "connection.authorized failure failed"},
	} {
		l := &lastRecord{}
		recordAuthorization(context.Background(), l, cli, "google-oauth", tc.res, tc.err)
		if got := string(l.r.Action) + " " + string(l.r.Outcome) + " " + l.r.Reason; got != tc.want || l.r.Caller != cli || l.r.Connection != "google-oauth" {
			t.Errorf("got %q %+v, want %q", got, l.r, tc.want)
		}
	}
	if c := hostedCaller(&authconn.PendingAuthorization{LinkID: "lnk1"}); c.Kind != audit.CallerLink || c.ID != "lnk1" {
		t.Errorf("a link's flow: %+v", c)
	}
	if c := hostedCaller(&authconn.PendingAuthorization{}); c.Kind != audit.CallerAdminSession {
		t.Errorf("the status page's flow: %+v", c)
	}
}
