package connection_test

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// expiryBed is a MemStore with one webhook and a clock the test moves, and the watchers on it.
type expiryBed struct {
	st  *tailortest.MemStore
	now time.Time
}

func newExpiryBed(t *testing.T) *expiryBed {
	t.Helper()
	b := &expiryBed{st: tailortest.NewMemStore(), now: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)}
	b.st.Webhooks = []string{"wh_expirytest01"}
	return b
}

// connect adds connection name whose client secret expires at exp (none when zero).
func (b *expiryBed) connect(name string, exp time.Time) {
	b.st.Mu.Lock()
	defer b.st.Mu.Unlock()
	b.st.Conns[name] = true
	b.st.Configs[name] = authconn.Connection{Name: name, ClientID: "id", TokenURL: "https://login.example.com/token",
		AuthURL: "https://login.example.com/auth", ClientSecretExpiresAt: exp}
}

func (b *expiryBed) watcher() *connection.ExpiryWatcher {
	return connection.NewExpiryWatcher(connection.ExpiryOptions{Store: b.st, Now: func() time.Time { return b.now }})
}

// events returns the stored events of connection name, sorted by time.
func (b *expiryBed) events(name string) []authconn.Event {
	b.st.Mu.Lock()
	defer b.st.Mu.Unlock()
	var out []authconn.Event
	for _, ev := range b.st.Events {
		if ev.Connection == name {
			out = append(out, ev)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// walk runs passes of ws every hour from the bed's time to until.
func (b *expiryBed) walk(t *testing.T, until time.Time, ws ...*connection.ExpiryWatcher) {
	t.Helper()
	for ; !b.now.After(until); b.now = b.now.Add(time.Hour) {
		for _, w := range ws {
			if err := w.Pass(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func kinds(evs []authconn.Event) string {
	var s []string
	for _, ev := range evs {
		s = append(s, string(ev.Type)+"/"+strconv.Itoa(ev.DaysLeft))
	}
	return strings.Join(s, " ")
}

// TestExpiryNoticesFireOnceEach: a secret expiring in 40 days gets the 30-, 7- and 1-day
// notices and the expired one, each once, though two watchers (two replicas) pass every
// hour; each carries the expiry date and days left, and no secret.
func TestExpiryNoticesFireOnceEach(t *testing.T) {
	b := newExpiryBed(t)
	exp := b.now.Add(40*24*time.Hour + 30*time.Minute)
	b.connect("ms365-oauth", exp)
	b.walk(t, exp.Add(10*24*time.Hour), b.watcher(), b.watcher())
	evs := b.events("ms365-oauth")
	want := "connection.client_secret_expiring/30 connection.client_secret_expiring/7 connection.client_secret_expiring/1 connection.client_secret_expired/0"
	if got := kinds(evs); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
	for i, days := range []int{30, 7, 1, 0} {
		ev := evs[i]
		mark := exp.Add(-time.Duration(days) * 24 * time.Hour)
		if !ev.ClientSecretExpiresAt.Equal(exp) || ev.At.Before(mark) || ev.At.Sub(mark) >= time.Hour || ev.KeepUntil.Sub(ev.At) < connection.ExpiryNoticeWindow {
			t.Errorf("event %d: %+v (mark %s)", i, ev, mark)
		}
		if ev.ID != authconn.SecretExpiryEventID(ev.Type, "ms365-oauth", days, exp) || !strings.Contains(ev.Message, exp.Format(time.RFC3339)) {
			t.Errorf("event %d: id or message: %+v", i, ev)
		}
	}
}

// TestExpiryNewDateStartsOver: a secret rotated with a new expiry date gets its notices
// again; one whose threshold passed more than ExpiryNoticeWindow ago before it was first
// seen gets only the next one.
func TestExpiryNewDateStartsOver(t *testing.T) {
	b := newExpiryBed(t)
	exp := b.now.Add(8 * 24 * time.Hour) // the 30-day mark passed 22 days ago
	b.connect("xero-oauth", exp)
	w := b.watcher()
	b.walk(t, exp.Add(-6*24*time.Hour), w)
	if got := kinds(b.events("xero-oauth")); got != "connection.client_secret_expiring/7" {
		t.Fatalf("before the rotation: %s", got)
	}
	exp2 := exp.Add(365 * 24 * time.Hour)
	b.connect("xero-oauth", exp2)
	b.walk(t, exp2.Add(-29*24*time.Hour), w)
	got := b.events("xero-oauth")
	if kinds(got) != "connection.client_secret_expiring/7 connection.client_secret_expiring/30" || !got[1].ClientSecretExpiresAt.Equal(exp2) {
		t.Fatalf("after the rotation: %s", kinds(got))
	}
}

// TestExpiryNoDateNoEvent: a connection without an expiry date, or whose secret expired
// long before it was first seen, tells nothing; neither does any without a webhook.
func TestExpiryNoDateNoEvent(t *testing.T) {
	b := newExpiryBed(t)
	b.connect("google-oauth", time.Time{})
	b.connect("old-oauth", b.now.Add(-90*24*time.Hour))
	b.walk(t, b.now.Add(400*24*time.Hour), b.watcher())
	if len(b.st.Events) != 0 {
		t.Fatalf("events: %+v", b.st.Events)
	}
	b = newExpiryBed(t)
	b.st.Webhooks = nil
	b.connect("ms365-oauth", b.now.Add(24*time.Hour))
	b.walk(t, b.now.Add(48*time.Hour), b.watcher())
	if len(b.st.Events) != 0 {
		t.Fatalf("stored without a webhook: %+v", b.st.Events)
	}
}

// TestSecretExpiryText: the words of the overview, rounded up to whole days.
func TestSecretExpiryText(t *testing.T) {
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		exp  time.Time
		want string
	}{
		{time.Time{}, ""},
		{now.Add(-time.Second), "expired"},
		{now, "expired"},
		{now.Add(time.Hour), "expires in 1 day"},
		{now.Add(24 * time.Hour), "expires in 1 day"},
		{now.Add(6*24*time.Hour + time.Hour), "expires in 7 days"},
	} {
		if got := connection.SecretExpiryText(c.exp, now); got != c.want {
			t.Errorf("SecretExpiryText(%s) = %q, want %q", c.exp, got, c.want)
		}
	}
}

// TestOverviewShowsSecretExpiryAndMetadata: the overview carries the catalog entry, the
// client secret's expiry and the token status's metadata and API base URL.
func TestOverviewShowsSecretExpiryAndMetadata(t *testing.T) {
	b := newExpiryBed(t)
	exp := time.Now().Add(12*24*time.Hour + time.Hour).UTC().Truncate(time.Second)
	b.connect("quickbooks-oauth", exp)
	b.st.Configs["quickbooks-oauth"] = func(c authconn.Connection) authconn.Connection { c.Provider = "quickbooks"; return c }(b.st.Configs["quickbooks-oauth"])
	b.st.Statuses = map[string]authconn.TokenStatus{"quickbooks-oauth": {Status: authconn.StatusAuthorized,
		Metadata: map[string]string{"realmId": "9130357"}, APIBaseURL: "https://quickbooks.api.intuit.com"}}
	sums, err := connection.Overview(context.Background(), b.st)
	if err != nil || len(sums) != 1 {
		t.Fatal(sums, err)
	}
	s := sums[0]
	if s.Provider != "quickbooks" || s.ClientSecretExpiresAt == nil || !s.ClientSecretExpiresAt.Equal(exp) || s.ClientSecretExpiry != "expires in 13 days" ||
		s.Metadata["realmId"] != "9130357" || s.APIBaseURL != "https://quickbooks.api.intuit.com" {
		t.Errorf("summary %+v", s)
	}
}
