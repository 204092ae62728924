package connect

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// TestLinkFlowsReuseYoungAndCapLive: a link opened 50 times begins one flow and hands out
// its URL again; once that flow is older than ReuseFlowFor a new one begins, up to
// MaxFlowsPerLink live ones; then ErrTooManyFlows until one expires or reaches its callback.
func TestLinkFlowsReuseYoungAndCapLive(t *testing.T) {
	lf := newLinkFlows(10 * time.Minute)
	l := &authconn.ConnectLink{ID: "abcdefghijkl"}
	starts := 0
	start := func(context.Context) (string, error) {
		starts++
		return fmt.Sprintf("https://idp/authorize?n=%d", starts), nil
	}
	for range 50 {
		if u, err := lf.begin(context.Background(), l, start); err != nil || u != "https://idp/authorize?n=1" {
			t.Fatalf("begin = %q, %v", u, err)
		}
	}
	if starts != 1 {
		t.Fatalf("invariant «a young flow is reused»: %d flows begun for 50 opens", starts)
	}
	age := func() { // every flow of l is now two minutes older
		fl, _ := lf.links.Get(l.ID)
		for i := range fl {
			fl[i].at = fl[i].at.Add(-2 * time.Minute)
		}
	}
	for range MaxFlowsPerLink - 1 {
		age()
		if _, err := lf.begin(context.Background(), l, start); err != nil {
			t.Fatal(err)
		}
	}
	age()
	if _, err := lf.begin(context.Background(), l, start); !errors.Is(err, ErrTooManyFlows) {
		t.Fatalf("invariant «at most MaxFlowsPerLink live flows»: %v after %d flows", err, starts)
	}
	if starts != MaxFlowsPerLink {
		t.Fatalf("%d flows begun, want %d", starts, MaxFlowsPerLink)
	}
	lf.forget(l.ID)
	if _, err := lf.begin(context.Background(), l, start); err != nil {
		t.Fatalf("after the callback: %v", err)
	}
}
