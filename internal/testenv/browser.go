package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const browserStartTimeout = 60 * time.Second

// Browser is a headless Chromium. Visit and VisitUntil each use a new tab in a
// new browser context (like a fresh incognito window), so visits share no
// cookies and can run in parallel. NewBrowser starts one; Close stops it.
type Browser struct {
	// Path is the Chromium binary.
	Path string
	// LogPath is the file that receives Chromium's output; its tail is
	// printed when the test fails.
	LogPath string
	// StartedIn is how long Chromium took to start.
	StartedIn time.Duration

	ctx    context.Context // the chromedp context that owns the browser
	cancel func()
	tmp    string
	ownTmp bool
}

// BrowserOptions configures NewBrowser.
type BrowserOptions struct {
	// Bin is the Chromium binary; FindTool("chromium") when empty.
	Bin string
	// Dir holds the profile and the log; a new temporary directory that Close
	// removes when empty.
	Dir string
	// ExtraFlags are more Chromium switches, e.g. {"ignore-certificate-errors": true}.
	ExtraFlags map[string]any
}

// NewBrowser starts a headless Chromium with a fresh profile, without network
// features that would call out (background networking, component updates,
// sync, QUIC) and with only a minimal environment. Stop it with Close.
func NewBrowser(o BrowserOptions) (*Browser, error) {
	if o.Bin == "" {
		bin, err := FindTool("chromium")
		if err != nil {
			return nil, err
		}
		o.Bin = bin
	}
	b := &Browser{Path: o.Bin}
	var home string
	var err error
	if b.tmp, home, b.ownTmp, err = workDir(o.Dir, "testenv-chromium-"); err != nil {
		return nil, err
	}
	b.LogPath = filepath.Join(b.tmp, "chromium.log")
	logf, err := os.OpenFile(b.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), b.allocatorOptions(o, home, logf)...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	b.ctx, b.cancel = ctx, func() { cancelCtx(); cancelAlloc(); logf.Close() }
	start := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- chromedp.Do(ctx) }() // the first Run starts the browser
	select {
	case err = <-errc:
	case <-time.After(browserStartTimeout):
		err = fmt.Errorf("no answer after %s", browserStartTimeout)
	}
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("testenv: starting chromium %s: %v; log %s:\n%s", o.Bin, err, b.LogPath, tailFile(b.LogPath, 40))
	}
	b.StartedIn = time.Since(start)
	return b, nil
}

func (b *Browser) allocatorOptions(o BrowserOptions, home string, logf *os.File) []chromedp.ExecAllocatorOption {
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(o.Bin),
		chromedp.UserDataDir(filepath.Join(b.tmp, "profile")),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"),
		chromedp.NoInheritEnv,
		chromedp.Env(baseEnv(home)...),
		chromedp.CombinedOutput(logf),
	)
	for k, v := range o.ExtraFlags {
		opts = append(opts, chromedp.Flag(k, v))
	}
	return opts
}

// Close stops the browser and removes the temporary directory NewBrowser made.
func (b *Browser) Close() {
	b.cancel()
	if b.ownTmp {
		_ = os.RemoveAll(b.tmp)
	}
}

// StartBrowser starts a headless Chromium for the test (see NewBrowser). It
// stops in t.Cleanup, and the tail of its log is printed when the test fails.
func StartBrowser(t testing.TB) *Browser {
	t.Helper()
	return StartBrowserWith(t, BrowserOptions{})
}

// StartBrowserWith is StartBrowser with o (its Bin and Dir are set for the test), e.g. with
// a TestCA's ChromiumTrust in ExtraFlags.
func StartBrowserWith(t testing.TB, o BrowserOptions) *Browser {
	t.Helper()
	o.Bin, o.Dir = Binary(t, "chromium"), t.TempDir()
	b, err := NewBrowser(o)
	if err != nil {
		t.Fatalf("%v", err)
	}
	manage(t, "chromium", b.LogPath, b.Close)
	t.Logf("testenv: chromium %s started in %s", b.Path, b.StartedIn.Round(time.Millisecond))
	return b
}

// NewTab returns a chromedp context for a new tab in a new browser context
// (no shared cookies), for tests that need their own chromedp actions. Cancel
// it to close the tab. To bound an action, derive a context with a timeout
// from the tab context after a first chromedp.Run on it.
func (b *Browser) NewTab() (context.Context, context.CancelFunc) {
	return chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
}

// Visit opens u in a new tab, follows the redirects, waits until the
// location has stayed the same for a short while on a fully loaded page, and
// returns the final URL and the text of its body. ctx bounds the whole visit.
// A page that cannot load (for example connection refused) is an error.
func (b *Browser) Visit(ctx context.Context, u string) (finalURL, bodyText string, err error) {
	return b.visit(ctx, u, nil)
}

// VisitUntil is like Visit, but waits until done returns true for the
// location of a fully loaded page, for flows that go on in JavaScript after
// the first page loads. It returns an error with the last location when ctx
// ends first.
func (b *Browser) VisitUntil(ctx context.Context, u string, done func(location *url.URL) bool) (finalURL, bodyText string, err error) {
	return b.visit(ctx, u, done)
}

// pageState is what visit polls.
type pageState struct {
	Href  string `json:"href"`
	Ready string `json:"ready"`
	Text  string `json:"text"`
}

func (b *Browser) visit(ctx context.Context, u string, done func(*url.URL) bool) (string, string, error) {
	tab, closeTab := b.NewTab()
	defer closeTab()
	// The tab context has no deadline of its own; end the actions with ctx.
	rctx, cancel := context.WithCancel(tab)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()

	if err := chromedp.Do(rctx, chromedp.Navigate(u)); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return "", "", fmt.Errorf("testenv: visiting %s: %w", u, err)
	}
	const stableFor = 3 // polls of 100 ms
	var last pageState
	same := 0
	for {
		st, err := chromedp.Run(rctx, chromedp.Evaluate[pageState](
			`({href: location.href, ready: document.readyState, text: document.body ? document.body.innerText : ""})`))
		if err == nil { // errors are normal while a navigation replaces the page
			if st.Href == last.Href && st.Ready == "complete" {
				same++
			} else {
				same = 0
			}
			last = st
			if st.Ready == "complete" {
				if done == nil && same >= stableFor {
					return st.Href, st.Text, nil
				}
				if done != nil {
					if lu, perr := url.Parse(st.Href); perr == nil && done(lu) {
						return st.Href, st.Text, nil
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return last.Href, last.Text, fmt.Errorf("testenv: visiting %s: page did not settle, last location %q: %w", u, last.Href, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
