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

// cookieName is the session cookie of the status page when its public URL is plain http on
// loopback; hostCookieName is the one over https: the __Host- prefix makes browsers accept
// it only with Secure, Path=/ and no Domain, so no other host or plain-http page can set or
// shadow it.
const (
	cookieName     = "tokend_session"
	hostCookieName = "__Host-tokend_session"
)

// session is a signed-in administrator: the admin API key they signed in with (its id, not
// the key), a random session id, the key's session epoch at sign-in (store.SessionEpoch:
// signing out bumps it, which ends every session of the key on every replica), and the
// expiry.
type session struct {
	keyID   string
	id      string
	epoch   int
	expires time.Time
}

// sessions signs and checks session cookies and CSRF tokens with a key that every replica
// reads from Vault, so a session works on any replica. No session is stored; what ends one
// early is stored per admin key (its epoch, and whether the key exists).
type sessions struct {
	key    []byte
	ttl    time.Duration
	secure bool
}

// name is the session cookie's name: with the __Host- prefix over https.
func (s *sessions) name() string {
	if s.secure {
		return hostCookieName
	}
	return cookieName
}

// issue returns the cookie of a new session for keyID at the key's session epoch.
func (s *sessions) issue(keyID string, epoch int, now time.Time) (*http.Cookie, *session) {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	ss := &session{keyID: keyID, id: base64.RawURLEncoding.EncodeToString(b), epoch: epoch, expires: now.Add(s.ttl)}
	payload := strings.Join([]string{ss.keyID, ss.id, strconv.FormatInt(ss.expires.Unix(), 10), strconv.Itoa(epoch)}, "|")
	value := base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + s.sign("session|"+payload)
	return s.cookie(value, int(s.ttl/time.Second)), ss
}

// cookie is the session cookie with value: HttpOnly, SameSite=Strict; over https Secure,
// with the __Host- prefix and so for Path=/ (the prefix demands it); on plain http on
// loopback (where Secure and __Host- cannot work) for the status page's paths only.
func (s *sessions) cookie(value string, maxAge int) *http.Cookie {
	p := Path
	if s.secure {
		p = "/"
	}
	return &http.Cookie{Name: s.name(), Value: value, Path: p, MaxAge: maxAge, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode}
}

// clear is the cookie that ends the session in the browser.
func (s *sessions) clear() *http.Cookie { return s.cookie("", -1) }

var errNoSession = errors.New("not signed in")

// check returns the session of r's cookie, if its signature and expiry hold (whether its
// key and epoch still hold is Console.current's to check).
func (s *sessions) check(r *http.Request, now time.Time) (*session, error) {
	c, err := r.Cookie(s.name())
	if err != nil {
		return nil, errNoSession
	}
	enc, sig, ok := strings.Cut(c.Value, ".")
	raw, derr := base64.RawURLEncoding.DecodeString(enc)
	if !ok || derr != nil || !hmac.Equal([]byte(sig), []byte(s.sign("session|"+string(raw)))) {
		return nil, errNoSession
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 4 {
		return nil, errNoSession
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || now.After(time.Unix(exp, 0)) {
		return nil, fmt.Errorf("the session has expired: %w", errNoSession)
	}
	epoch, err := strconv.Atoi(parts[3])
	if err != nil {
		return nil, errNoSession
	}
	return &session{keyID: parts[0], id: parts[1], epoch: epoch, expires: time.Unix(exp, 0)}, nil
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
