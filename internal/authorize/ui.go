package authorize

import (
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// UI is how Run talks to the person who authorizes, like x/oauth2's AuthorizationHandler:
// TextUI prints to a terminal and opens a browser; tests drive a headless browser; a hosted
// flow would redirect.
type UI interface {
	// Prompt asks the user to open p.URL and approve the request. It returns once the URL
	// is shown or opened, not when the flow ends.
	Prompt(p Prompt) error
	// Exchanging is called when the callback has arrived and its code is being exchanged.
	Exchanging()
	// Done is called with the result once the tokens are stored.
	Done(res *Result)
}

// Prompt is what the user needs to authorize a connection.
type Prompt struct {
	Name string
	// URL is the authorization URL to open.
	URL string
	// Provider is the preset name, "oidc" or "custom"; AuthHost the authorization server.
	Provider, AuthHost string
	Scopes             []string
	// RedirectURI must be registered for ClientID at the provider; Notes says where.
	RedirectURI, ClientID, Notes string
	// Timeout is how long the flow waits for the callback (or the device approval).
	Timeout time.Duration
	// Device: the device flow. URL is the verification URI where the user enters UserCode;
	// CompleteURL, when the provider gives one, already holds the code.
	Device      bool
	UserCode    string
	CompleteURL string
}

// Prompt returns what the user needs to authorize a, waiting up to timeout.
func (a *Attempt) Prompt(timeout time.Duration) Prompt {
	return Prompt{Name: a.Name, URL: a.Request.URL, Provider: a.Provider.Name(), AuthHost: hostOf(a.Provider.AuthURL),
		Scopes: a.Request.Scopes, RedirectURI: a.Request.RedirectURL, ClientID: a.ClientID,
		Notes: a.Provider.Preset.RedirectNotes, Timeout: timeout}
}

// TextUI is the terminal UI of `tokend authorize`: progress and warnings on Err, and the
// authorization URL as one line on Out when it is not opened in a browser.
type TextUI struct {
	Out, Err io.Writer
	// NoBrowser prints the URL instead of opening it.
	NoBrowser bool
	// Open opens a URL in the user's browser; the URL is printed when it is nil or fails. It
	// should not block until the flow ends.
	Open func(url string) error
}

// Prompt implements UI.
func (u *TextUI) Prompt(p Prompt) error {
	if p.Device {
		return u.devicePrompt(p)
	}
	say := func(format string, a ...any) { fmt.Fprintf(u.Err, format+"\n", a...) }
	say("Authorizing connection %q at %s (%s), scopes: %s", p.Name, p.AuthHost, p.Provider, strings.Join(p.Scopes, " "))
	say("Redirect URI (must be registered for client %s at the provider): %s", p.ClientID, p.RedirectURI)
	if p.Notes != "" {
		say("  %s", p.Notes)
	}
	switch {
	case u.NoBrowser || u.Open == nil:
		say("Open this URL in a browser, sign in and approve the request:")
		fmt.Fprintln(u.Out, p.URL)
	default:
		if err := u.Open(p.URL); err != nil {
			say("Could not open a browser (%v); open this URL yourself:", err)
			fmt.Fprintln(u.Out, p.URL)
		} else {
			say("Opened the browser; if nothing appears, run again with --no-browser and open the printed URL.")
		}
	}
	say("Waiting up to %s for the provider to redirect to %s (Ctrl-C to cancel)...", p.Timeout, p.RedirectURI)
	return nil
}

// devicePrompt shows the device flow's verification URI and user code: on Err for the
// person, and on Out as two lines (the URL to open, with the code when the provider gives
// such a URL; then the code) for programs.
func (u *TextUI) devicePrompt(p Prompt) error {
	fmt.Fprintf(u.Err, "Authorizing connection %q at %s (%s) with the device flow, scopes: %s\n", p.Name, p.AuthHost, p.Provider, strings.Join(p.Scopes, " "))
	fmt.Fprintf(u.Err, "On any device with a browser, open %s and enter the code %s\n", p.URL, p.UserCode)
	open := p.URL
	if p.CompleteURL != "" {
		fmt.Fprintf(u.Err, "  (or open %s, which has the code in it)\n", p.CompleteURL)
		open = p.CompleteURL
	}
	fmt.Fprintln(u.Out, open)
	fmt.Fprintln(u.Out, p.UserCode)
	fmt.Fprintf(u.Err, "Waiting up to %s for the approval (Ctrl-C to cancel)...\n", p.Timeout.Round(time.Second))
	return nil
}

// Exchanging implements UI.
func (u *TextUI) Exchanging() {
	fmt.Fprintln(u.Err, "Received the authorization; storing the tokens...")
}

// Done implements UI: it prints the warnings.
func (u *TextUI) Done(res *Result) {
	if len(res.Metadata) > 0 {
		kv := make([]string, 0, len(res.Metadata))
		for _, k := range slices.Sorted(maps.Keys(res.Metadata)) {
			kv = append(kv, k+"="+res.Metadata[k])
		}
		fmt.Fprintf(u.Err, "Connection metadata: %s\n", strings.Join(kv, ", "))
	}
	if res.APIBaseURL != "" {
		fmt.Fprintf(u.Err, "API base URL: %s\n", res.APIBaseURL)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(u.Err, "Warning: %s\n", w)
	}
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return u.Scheme + "://" + u.Host
}
