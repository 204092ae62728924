package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// cookieName is the session cookie of the status page.
const cookieName = "tokend_session"

// session is a signed-in administrator: the admin API key they signed in with (its id, not
// the key), a random session id, and the expiry.
type session struct {
	keyID   string
	id      string
	expires time.Time
}

// sessions signs and checks session cookies and CSRF tokens with a key that every replica
// reads from Vault, so a session works on any replica and no session state is stored.
type sessions struct {
	key    []byte
	ttl    time.Duration
	secure bool
}

// issue returns the cookie of a new session for keyID.
func (s *sessions) issue(keyID string, now time.Time) (*http.Cookie, *session) {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	ss := &session{keyID: keyID, id: base64.RawURLEncoding.EncodeToString(b), expires: now.Add(s.ttl)}
	payload := strings.Join([]string{ss.keyID, ss.id, strconv.FormatInt(ss.expires.Unix(), 10)}, "|")
	value := base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + s.sign("session|"+payload)
	return s.cookie(value, int(s.ttl/time.Second)), ss
}

// cookie is the session cookie with value: HttpOnly, SameSite=Strict, Secure unless the
// public URL is plain http on loopback, and only for the status page's paths.
func (s *sessions) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: cookieName, Value: value, Path: Path, MaxAge: maxAge, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode}
}

// clear is the cookie that ends the session in the browser.
func (s *sessions) clear() *http.Cookie { return s.cookie("", -1) }

var errNoSession = errors.New("not signed in")

// check returns the session of r's cookie, if its signature and expiry hold.
func (s *sessions) check(r *http.Request, now time.Time) (*session, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, errNoSession
	}
	enc, sig, ok := strings.Cut(c.Value, ".")
	raw, derr := base64.RawURLEncoding.DecodeString(enc)
	if !ok || derr != nil || !hmac.Equal([]byte(sig), []byte(s.sign("session|"+string(raw)))) {
		return nil, errNoSession
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 {
		return nil, errNoSession
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || now.After(time.Unix(exp, 0)) {
		return nil, fmt.Errorf("the session has expired: %w", errNoSession)
	}
	return &session{keyID: parts[0], id: parts[1], expires: time.Unix(exp, 0)}, nil
}

// csrf is the anti-forgery token of ss that every form of the page carries.
func (s *sessions) csrf(ss *session) string { return s.sign("csrf|" + ss.id) }

// checkCSRF reports whether token is ss's, in constant time.
func (s *sessions) checkCSRF(ss *session, token string) bool {
	return hmac.Equal([]byte(token), []byte(s.csrf(ss)))
}

func (s *sessions) sign(msg string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
