package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// TestChangeLogNotesEveryWrite: each write through the store appends one entry naming the
// record, in order, and a reader at the current position reads nothing more.
func TestChangeLogNotesEveryWrite(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "changes")
	ctx := context.Background()
	_, start, complete, err := st.ChangesSince(ctx, -1)
	if err != nil || start != 0 || !complete {
		t.Fatalf("empty log: position %d complete %v: %v", start, complete, err)
	}
	if _, err := st.CreateConnection(ctx, testConnection("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutClientSecret(ctx, "a", "s3cret-value-1"); err != nil {
		t.Fatal(err)
	}
	v, err := st.PutTokens(ctx, "a", &authconn.TokenSet{AccessToken: "at", RefreshToken: "rt"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteTokens(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteConnection(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	got, cur, complete, err := st.ChangesSince(ctx, start)
	if err != nil || !complete {
		t.Fatalf("reading the log: complete %v: %v", complete, err)
	}
	want := []store.Change{{Kind: store.ChangeConnection, Name: "a", Version: 1}, {Kind: store.ChangeConnection, Name: "a"},
		{Kind: store.ChangeTokens, Name: "a", Version: v}, {Kind: store.ChangeTokens, Name: "a"},
		{Kind: store.ChangeConnection, Name: "a", Version: 1, Deleted: true}} // the deletion names the config's last version
	if len(got) != len(want) || cur != start+len(want) {
		t.Fatalf("invariant «one entry per write»: %d entries, position %d: %+v", len(got), cur, got)
	}
	for i, c := range got {
		if c.Kind != want[i].Kind || c.Name != want[i].Name || c.Version != want[i].Version || c.Deleted != want[i].Deleted || c.Seq != start+i+1 || c.At.IsZero() {
			t.Errorf("entry %d: %+v, want %+v", i, c, want[i])
		}
		if strings.Contains(fmt.Sprintf("%+v", c), "s3cret") {
			t.Error("invariant «the log holds names, never secrets»: an entry holds the client secret")
		}
	}
	if more, again, complete, err := st.ChangesSince(ctx, cur); err != nil || len(more) != 0 || again != cur || !complete {
		t.Fatalf("invariant «nothing new, nothing read»: %v %d %v %v", more, again, complete, err)
	}
}

// TestChangeLogConcurrentWritersAllLand: writers on several goroutines (replicas) each get
// their own entry; none overwrites another.
func TestChangeLogConcurrentWritersAllLand(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "changes-concurrent")
	ctx := context.Background()
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := st.PutTokens(ctx, fmt.Sprintf("c%d-%d", w, i), &authconn.TokenSet{AccessToken: "at"}, 0); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	got, cur, complete, err := st.ChangesSince(ctx, 0)
	if err != nil || !complete || cur != writers*each {
		t.Fatalf("position %d complete %v: %v", cur, complete, err)
	}
	names := map[string]bool{}
	for _, c := range got {
		names[c.Name] = true
	}
	if len(names) != writers*each {
		t.Fatalf("invariant «every concurrent write has its entry»: %d distinct of %d", len(names), writers*each)
	}
}

// TestChangeLogFarBehindIsIncomplete: a reader too far behind (more than the store reads
// entry by entry, or behind the retained versions) is told to read everything again.
func TestChangeLogFarBehindIsIncomplete(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, "changes-behind")
	ctx := context.Background()
	for i := range 205 {
		if _, err := st.CreateConnection(ctx, testConnection(fmt.Sprintf("c%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if got, cur, complete, err := st.ChangesSince(ctx, 0); err != nil || complete || len(got) != 0 || cur != 205 {
		t.Fatalf("invariant «far behind means read everything»: %d entries, position %d, complete %v: %v", len(got), cur, complete, err)
	}
	if got, _, complete, err := st.ChangesSince(ctx, 200); err != nil || !complete || len(got) != 5 {
		t.Fatalf("five behind: %d entries, complete %v: %v", len(got), complete, err)
	}
	if _, _, complete, err := st.ChangesSince(ctx, 300); err != nil || complete {
		t.Fatalf("invariant «a position past the log (the log was deleted) means read everything»: complete %v: %v", complete, err)
	}
}

// TestChangeLogEntriesSayWhoWrote: a store given a writer names it in each entry it notes
// (the audit trail's caller of connection.changed); a store without one says nothing.
func TestChangeLogEntriesSayWhoWrote(t *testing.T) {
	t.Parallel()
	anon, v := newStore(t, "changes-by")
	tf, err := store.New(v.Client(), store.Options{Prefix: "changes-by", Writer: "terraform"})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := store.New(v.Client(), store.Options{Prefix: "changes-by", Writer: "cli", WriterID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, start, _, _ := anon.ChangesSince(ctx, -1)
	for i, st := range []*store.Store{tf, cli, anon} {
		if _, err := st.CreateConnection(ctx, testConnection(fmt.Sprintf("c%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	got, _, complete, err := anon.ChangesSince(ctx, start)
	if err != nil || !complete || len(got) != 3 {
		t.Fatalf("reading the log: %d entries, complete %v: %v", len(got), complete, err)
	}
	for i, want := range [][2]string{{"terraform", ""}, {"cli", "alice"}, {"", ""}} {
		if got[i].By != want[0] || got[i].ByID != want[1] {
			t.Errorf("entry %d: by %q/%q, want %q/%q", i, got[i].By, got[i].ByID, want[0], want[1])
		}
	}
}
