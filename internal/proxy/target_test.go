package proxy

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

func TestTarget(t *testing.T) {
	base, _ := url.Parse("https://api.example.com/v3/company/")
	allowed := []string{"uploads.example.com"}
	for _, tc := range []struct {
		host, rest, query, want, code string
	}{
		{"", "/items/1", "a=1", "https://api.example.com/v3/company/items/1?a=1", ""},
		{"", "", "", "https://api.example.com/v3/company", ""},
		{"", "/a%2Fb", "", "https://api.example.com/v3/company/a%2Fb", ""},
		{"API.example.com", "/x", "", "https://api.example.com/v3/company/x", ""},
		{"uploads.example.com", "/up", "", "https://uploads.example.com/up", ""},
		{"evil.example.com", "/x", "", "", "host_not_allowed"},
		{"", "/../x", "", "", "host_not_allowed"},
		{"", "/%2e%2e/x", "", "", "host_not_allowed"},
		{"", "/a/./x", "", "", "host_not_allowed"},
		{"", "/a%2F..%2Fx", "", "", "host_not_allowed"},
		{"", "/a\\..\\x", "", "", "host_not_allowed"},
		{"", "//evil.example.com/x", "", "", "host_not_allowed"},
		{"", "/%zz", "", "", "invalid_request"},
	} {
		u, err := Target(base, allowed, tc.host, tc.rest, tc.query)
		var e *Error
		switch {
		case tc.code != "" && (!errors.As(err, &e) || e.Code != tc.code):
			t.Errorf("%q %q: %v, want %s", tc.host, tc.rest, err, tc.code)
		case tc.code == "" && (err != nil || u.String() != tc.want):
			t.Errorf("%q %q: %v %v, want %s", tc.host, tc.rest, u, err, tc.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{"30": 30 * time.Second, "0": 0, "Thu, 01 Jan 2026 00:01:00 GMT": time.Minute} {
		if d, ok := RetryAfter(v, now); !ok || d != want {
			t.Errorf("%q: %v %v", v, d, ok)
		}
	}
	for _, v := range []string{"", "-1", "soon"} {
		if _, ok := RetryAfter(v, now); ok {
			t.Errorf("%q accepted", v)
		}
	}
}
