package connect

import (
	"errors"
	"html/template"
	"net/http"

	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
	"github.com/authconnection/terraform-provider-tailor/internal/web"
)

// landingPage reads the token from the URL's fragment, removes it from the address bar and
// posts it; without JavaScript the holder pastes the link.
var landingPage = web.Parse("connect", `{{define "title"}}Connect{{end}}
{{define "content"}}<h1>Connect an account</h1>
<p>This link lets you authorize one connection for tokend. You will be sent to the
provider's sign-in and consent page.</p>
<form id="connect" method="post" action="{{.Action}}">
<p><label>Connect link <input id="link" name="link" type="password" autocomplete="off" size="60" required></label></p>
<p><button id="continue" type="submit">Continue to the provider</button></p>
</form>
<script nonce="{{.Nonce}}">
(function(){var t=location.hash.slice(1);if(!t)return;history.replaceState(null,"",location.pathname);
document.getElementById("link").value=decodeURIComponent(t);document.getElementById("connect").submit();})();
</script>{{end}}`)

// Landing serves GET /connect (LandingPath): the page a connect link opens.
func (s *Service) Landing(w http.ResponseWriter, _ *http.Request) {
	nonce := web.Nonce()
	web.RenderPage(w, http.StatusOK, landingPage, struct {
		Action template.URL
		Nonce  string
	}{template.URL(s.URL(StartPath)), nonce}, web.Page{Nonce: nonce, ToProvider: true})
}

// Start serves POST /v1/connect (StartPath): it opens the posted link and sends the
// browser to the provider.
func (s *Service) Start(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	authURL, err := s.Open(r.Context(), r.PostFormValue("link"))
	if err != nil {
		s.linkFailed(w, err)
		return
	}
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

func (s *Service) linkFailed(w http.ResponseWriter, err error) {
	var le *LinkError
	switch {
	case errors.Is(err, ErrBadLink):
		web.ShowMessage(w, http.StatusNotFound, web.Message{Title: "Link not valid", Text: err.Error() + ".",
			Next: "Check that you opened the whole link you were sent, or ask for a new one."})
	case errors.As(err, &le):
		web.ShowMessage(w, http.StatusGone, web.Message{Title: "Link cannot be used", Text: le.Error() + "."})
	case errors.Is(err, ErrTooManyFlows):
		w.Header().Set("Retry-After", "60")
		web.ShowMessage(w, http.StatusTooManyRequests, web.Message{Title: "Authorization already in progress", Text: err.Error() + "."})
	default:
		s.log.Error("opening a connect link failed", "error", err)
		web.ShowMessage(w, http.StatusServiceUnavailable, web.Message{Title: "Cannot start the authorization",
			Text: "tokend could not start the authorization right now.", Next: "Try again in a minute; if it keeps failing, tell whoever sent you the link."})
	}
}

// Callback serves GET /v1/callback/{name} (authorize.HostedCallbackPath + "/" + name, and
// /v1/callback for flows begun before per-connection paths): it completes a hosted
// authorization.
func (s *Service) Callback(w http.ResponseWriter, r *http.Request) {
	res, rec, err := s.hosted.Complete(r.Context(), r.PathValue("name"), r.URL.Query(), s.claimLink)
	if err != nil {
		s.callbackFailed(w, rec != nil, err)
		return
	}
	s.log.Info("connection authorized through the hosted flow", "connection", res.Name, "link", rec.LinkID, "provider", res.Provider,
		"account_changed", res.AccountChanged, "new_account_requested", res.NewAccountRequested)
	if s.o.OnAuthorized != nil {
		s.o.OnAuthorized(r.Context(), res.Name, res)
	}
	msg := res.Name + " is connected: tokend now serves its tokens."
	for _, warn := range res.Warnings {
		msg += " Note: " + warn
	}
	web.ShowMessage(w, http.StatusOK, web.Message{Title: "Connected", Text: msg, Next: "You can close this window."})
}

func (s *Service) callbackFailed(w http.ResponseWriter, known bool, err error) {
	var ce *authorize.CallbackError
	var le *LinkError
	var am *authorize.AccountMismatchError
	switch {
	case errors.As(err, &am):
		s.log.Warn("a hosted authorization by another account than the connection's was refused", "connection", am.Name,
			"recorded", am.Recorded.String(), "presented", am.Presented.String())
		web.ShowMessage(w, http.StatusForbidden, web.Message{Title: "Another account", Text: "This connection belongs to " + am.Recorded.String() +
			"; you signed in as " + am.Presented.String() + ". Nothing was changed.",
			Next: "Sign in with the connection's account, or ask an operator for a new-account link (tokend authorize " + am.Name + " --link --new-account)."})
	case errors.Is(err, authorize.ErrWrongCallback):
		s.log.Warn("a hosted callback arrived at another connection's redirect URI and was refused")
		web.ShowMessage(w, http.StatusBadRequest, web.Message{Title: "Authorization refused", Text: err.Error() + "."})
	case errors.Is(err, authorize.ErrUnknownAuthorization), errors.Is(err, authorize.ErrAuthorizationUsed), errors.Is(err, authorize.ErrAuthorizationExpired):
		web.ShowMessage(w, http.StatusBadRequest, web.Message{Title: "Authorization not completed", Text: err.Error() + "."})
	case errors.As(err, &le):
		web.ShowMessage(w, http.StatusGone, web.Message{Title: "Link cannot be used", Text: le.Error() + "."})
	case errors.As(err, &ce):
		web.ShowMessage(w, http.StatusBadRequest, web.Message{Title: "Authorization failed", Text: ce.Error() + "."})
	default:
		s.log.Error("completing a hosted authorization failed", "known", known, "error", err)
		web.ShowMessage(w, http.StatusBadGateway, web.Message{Title: "Authorization failed", Text: err.Error(),
			Next: "Start again from the link or the status page; if it keeps failing, tell the administrator."})
	}
}
