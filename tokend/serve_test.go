package main

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
	"github.com/authconnection/terraform-provider-tailor/tokend/client"
)

// TestServeTLS: with --tls-cert and --tls-key tokend serves HTTPS only.
func TestServeTLS(t *testing.T) {
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: time.Hour})
	env.AddConnection(t, "google-oauth")
	env.Authorize(t, "google-oauth")
	bed := newTokendBed(t, env)
	ca := testenv.NewTestCA(t)
	_, stderr, err := bed.run("serve", "--tls-cert", ca.CertFile)
	if err == nil || !strings.Contains(stderr, "--tls-key") {
		t.Errorf("serve with only --tls-cert: %v %s", err, stderr)
	}
	p := bed.serve(t, "tls", withFlags("--tls-cert", ca.CertFile, "--tls-key", ca.KeyFile, "--insecure-no-auth"))
	if !strings.HasPrefix(p.URL, "https://") {
		t.Fatalf("URL %s", p.URL)
	}
	c := client.New(p.URL, "")
	c.HTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	tok, err := c.Token(t.Context(), "google-oauth")
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("over TLS: %v", err)
	}
	// Plain HTTP on the TLS port is refused.
	if resp, err := http.Get(strings.Replace(p.URL, "https://", "http://", 1) + "/healthz"); err == nil {
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP answered 200 on the TLS listener")
		}
		resp.Body.Close()
	}
}
