// Command oidc is the test bed's RFC 8628 device-flow provider: an OpenID provider built on
// github.com/zitadel/oidc/v3 (pkg/op, with the in-memory storage of its example server),
// because the pinned Ory Hydra has no device authorization grant. It serves discovery,
// the device authorization and token endpoints, and a small device page (user code,
// sign-in, allow or deny), on 127.0.0.1 only.
//
// Configuration comes from the environment, never from arguments: OIDC_PORT (required),
// OIDC_CLIENT_ID and OIDC_CLIENT_SECRET (the device client, client_secret_basic),
// OIDC_DEVICE_LIFETIME and OIDC_DEVICE_INTERVAL (Go durations; 5m and 5s by default).
// The user is test-user@127.0.0.1 with the password verysecure.
package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

func main() {
	port := os.Getenv("OIDC_PORT")
	if port == "" {
		log.Fatal("OIDC_PORT is required")
	}
	issuer := "http://127.0.0.1:" + port + "/"
	storage.RegisterClients(storage.DeviceClient(os.Getenv("OIDC_CLIENT_ID"), os.Getenv("OIDC_CLIENT_SECRET")))
	users := storage.NewUserStore(issuer)
	st := storage.NewStorage(users)
	provider, err := op.NewOpenIDProvider(issuer, &op.Config{
		CryptoKey:             sha256.Sum256([]byte(os.Getenv("OIDC_CLIENT_SECRET") + "-crypto")),
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		SupportedUILocales:    []language.Tag{language.English},
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime:     duration("OIDC_DEVICE_LIFETIME", 5*time.Minute),
			PollInterval: duration("OIDC_DEVICE_INTERVAL", 5*time.Second),
			UserFormPath: "/device",
			UserCode:     op.UserCodeBase20,
		},
	}, refreshingStorage{st, os.Getenv("OIDC_CLIENT_ID")}, op.WithAllowInsecure())
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	d := &devicePages{st: st, users: users}
	mux.HandleFunc("GET /device", d.userCode)
	mux.HandleFunc("POST /device/login", d.login)
	mux.HandleFunc("POST /device/confirm", d.confirm)
	mux.Handle("/", provider)
	log.Printf("oidc: serving %s", issuer)
	srv := &http.Server{Addr: "127.0.0.1:" + port, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// refreshingStorage is the example storage whose clients may also use refresh tokens: the
// example's device client allows only the device grant, so it would never get a refresh
// token, unlike a device client at Google or Microsoft. The example also records no client
// on a refresh token issued to a device (it knows only its own auth requests); such tokens
// belong to the one device client.
type refreshingStorage struct {
	*storage.Storage
	deviceClient string
}

// TokenRequestByRefreshToken names the device client on refresh tokens issued to it.
func (s refreshingStorage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	r, err := s.Storage.TokenRequestByRefreshToken(ctx, token)
	if rr, ok := r.(*storage.RefreshTokenRequest); ok && rr.ApplicationID == "" {
		rr.ApplicationID = s.deviceClient
	}
	return r, err
}

// GetClientByClientID returns the client with the refresh-token grant added.
func (s refreshingStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return refreshingClient{c}, nil
}

type refreshingClient struct{ op.Client }

func (c refreshingClient) GrantTypes() []oidc.GrantType {
	return append(c.Client.GrantTypes(), oidc.GrantTypeRefreshToken)
}

func duration(env string, def time.Duration) time.Duration {
	d, err := time.ParseDuration(os.Getenv(env))
	if err != nil {
		return def
	}
	return d
}

// devicePages is where the user enters the user code, signs in, and allows or denies.
type devicePages struct {
	st    *storage.Storage
	users storage.UserStore
}

var page = template.Must(template.New("p").Parse(`<!DOCTYPE html><html><body>
{{if .Error}}<p id="error">{{.Error}}</p>{{end}}
{{if eq .Step "login"}}<form method="post" action="/device/login">
<input type="hidden" name="user_code" value="{{.UserCode}}">
<input id="username" name="username"><input id="password" name="password" type="password">
<button id="login" type="submit">Sign in</button></form>{{end}}
{{if eq .Step "confirm"}}<p id="client">{{.ClientID}} asks for {{.Scopes}}</p>
<form method="post" action="/device/confirm"><input type="hidden" name="user_code" value="{{.UserCode}}">
<input type="hidden" name="username" value="{{.Username}}">
<button id="allow" name="action" value="allowed">Allow</button><button id="deny" name="action" value="denied">Deny</button></form>{{end}}
{{if eq .Step "done"}}<p id="done">Device authorization {{.Result}}.</p>{{end}}
</body></html>`))

type pageData struct {
	Step, Error, UserCode, Username, ClientID, Result string
	Scopes                                            []string
}

func (d *devicePages) userCode(w http.ResponseWriter, r *http.Request) {
	_ = page.Execute(w, pageData{Step: "login", UserCode: r.URL.Query().Get("user_code")})
}

func (d *devicePages) login(w http.ResponseWriter, r *http.Request) {
	code, user := r.PostFormValue("user_code"), r.PostFormValue("username")
	if err := d.st.CheckUsernamePasswordSimple(user, r.PostFormValue("password")); err != nil {
		_ = page.Execute(w, pageData{Step: "login", UserCode: code, Error: err.Error()})
		return
	}
	state, err := d.st.GetDeviceAuthorizationByUserCode(r.Context(), code)
	if err != nil {
		_ = page.Execute(w, pageData{Step: "login", UserCode: code, Error: err.Error()})
		return
	}
	_ = page.Execute(w, pageData{Step: "confirm", UserCode: code, Username: user, ClientID: state.ClientID, Scopes: state.Scopes})
}

// confirm allows or denies the device. The sign-in was checked on the previous page; this
// page trusts the form, which is enough for a test provider on loopback.
func (d *devicePages) confirm(w http.ResponseWriter, r *http.Request) {
	code, user, action := r.PostFormValue("user_code"), r.PostFormValue("username"), r.PostFormValue("action")
	var err error
	switch action {
	case "allowed":
		u := d.users.GetUserByUsername(user)
		if u == nil {
			err = fmt.Errorf("unknown user %q", user)
			break
		}
		err = d.st.CompleteDeviceAuthorization(r.Context(), code, u.ID)
	case "denied":
		err = d.st.DenyDeviceAuthorization(r.Context(), code)
	default:
		err = fmt.Errorf("unknown action %q", action)
	}
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = page.Execute(w, pageData{Step: "done", Error: err.Error()})
		return
	}
	_ = page.Execute(w, pageData{Step: "done", Result: action})
}
