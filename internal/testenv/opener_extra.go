package testenv

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Opener is a browser opener for code under test that takes one (tokend authorize's
// Options.Open): Open starts a visit of the URL in the headless browser in the background
// and returns at once, like a system browser would. Wait returns the final page of a visit.
type Opener struct {
	b *Browser

	timeout time.Duration
	mu      sync.Mutex
	urls    []string
	visits  chan Visited
}

// Visited is the outcome of one Opener visit.
type Visited struct {
	URL      string // the URL that was opened
	FinalURL string
	Text     string // the body text of the final page
	Err      error
}

// NewOpener returns an Opener that visits URLs in b; each visit is bounded by timeout.
func (b *Browser) NewOpener(timeout time.Duration) *Opener {
	return &Opener{b: b, timeout: timeout, visits: make(chan Visited, 16)}
}

// Open visits u in the background and returns at once; it has the signature of a browser
// opener.
func (o *Opener) Open(u string) error {
	o.mu.Lock()
	o.urls = append(o.urls, u)
	o.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		defer cancel()
		final, text, err := o.b.Visit(ctx, u)
		o.visits <- Visited{URL: u, FinalURL: final, Text: text, Err: err}
	}()
	return nil
}

// URLs returns the URLs opened so far.
func (o *Opener) URLs() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.urls...)
}

// Wait returns the next finished visit, failing the test after timeout.
func (o *Opener) Wait(t testing.TB, timeout time.Duration) Visited {
	t.Helper()
	select {
	case v := <-o.visits:
		return v
	case <-time.After(timeout):
		t.Fatalf("testenv: no browser visit finished within %s", timeout)
		return Visited{}
	}
}
