// Package vaultclient builds the HashiCorp Vault API client that the Terraform provider and
// tokend share: address, namespace and TLS settings, and authentication by token, AppRole or
// JWT (CI systems' OIDC tokens, Kubernetes service-account tokens), with the same VAULT_*
// environment fallbacks as the Vault CLI. A client keeps its token alive: it renews it and
// logs in again before it expires (see keepalive.go).
package vaultclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// Config says how to reach and authenticate to Vault. Empty fields fall back to the
// environment variables named in their comments.
type Config struct {
	// Address is VAULT_ADDR: one address, or the nodes of a cluster separated by commas
	// (each request goes to the node that answered last and fails over to the others).
	Address   string
	Token     string // VAULT_TOKEN (ignored when AppRole or JWT is set)
	Namespace string // VAULT_NAMESPACE

	CACert        string // VAULT_CACERT: PEM file of the CA that signed Vault's certificate
	CAPath        string // VAULT_CAPATH: directory of PEM CA files
	ClientCert    string // VAULT_CLIENT_CERT
	ClientKey     string // VAULT_CLIENT_KEY
	TLSServerName string // VAULT_TLS_SERVER_NAME
	SkipVerify    bool   // VAULT_SKIP_VERIFY

	// AppRole logs in with a role id and a secret id, instead of a token.
	AppRole *AppRole
	// JWT logs in with a signed JWT (JWT/OIDC auth method), instead of a token.
	JWT *JWT

	// Timeout bounds each request to Vault; 0 means 30 seconds.
	Timeout time.Duration
	// FailoverBudget bounds how long a request tries the nodes of a cluster (Address with
	// several addresses) before it fails; 0 means half of Timeout.
	FailoverBudget time.Duration
	// Consistency is ConsistencyStrong (the default), ConsistencyForward or
	// ConsistencyEventual: how requests marked with ConsistentReads are sent.
	Consistency string
	// Logger receives renewal and re-login events; slog.Default() when nil.
	Logger *slog.Logger
}

// Client is a configured, authenticated Vault API client. Close stops the background token
// renewal.
type Client struct {
	*vault.Client
	method string
	log    *slog.Logger
	stop   context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	problem error     // the last failed login, cleared by the next success
	expires time.Time // when the current token expires (zero: never, or unknown)
}

// Close stops background token renewal, if any.
func (c *Client) Close() {
	if c.stop != nil {
		c.stop()
		<-c.done
	}
}

// Method is the auth method in use: "token", "approle" or "jwt".
func (c *Client) Method() string { return c.method }

// Health returns nil while the client holds a token that has not expired, or an
// actionable error once it has: with the last login failure, or saying that the token could
// not be renewed. (While a re-login fails but the current token still lives, the client is
// healthy: the failures are logged.)
func (c *Client) Health() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expires.IsZero() || time.Now().Before(c.expires) {
		return nil
	}
	if c.problem != nil {
		return fmt.Errorf("the Vault token expired at %s and logging in again fails: %w", c.expires.UTC().Format(time.RFC3339), c.problem)
	}
	return fmt.Errorf("the Vault token expired at %s and could not be renewed", c.expires.UTC().Format(time.RFC3339))
}

// setState records a good token (problem nil) and its expiry.
func (c *Client) setState(problem error, expires time.Time) {
	c.mu.Lock()
	c.problem, c.expires = problem, expires
	c.mu.Unlock()
}

// New builds a client from cfg and the environment, authenticates it (logging in for AppRole
// and JWT) and starts keeping its token alive. It does not check a given token; call Verify
// for that.
func New(ctx context.Context, cfg Config) (*Client, error) {
	c, err := newAPIClient(cfg)
	if err != nil {
		return nil, err
	}
	client := &Client{Client: c, log: orLogger(cfg.Logger)}
	m, err := loginMethod(cfg)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return client, client.useToken(ctx, cfg.Token)
	}
	return client, client.login(ctx, m)
}

func orLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// splitAddrs splits a comma-separated list of addresses.
func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// retryPolicy is vault/api's CheckRetry: it repeats a request that was not sent (the
// connection was refused) and one that Vault answered 412 (a required X-Vault-Index not
// reached yet); after a 5xx only reads. With a failover transport (several addresses) that
// transport does the failing over, and only 412s are repeated here.
func retryPolicy(failover bool) func(context.Context, *http.Response, error) (bool, error) {
	return func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if err != nil {
			return !failover && isDialError(err), nil
		}
		switch {
		case resp.StatusCode == http.StatusPreconditionFailed:
			return true, nil
		case failover || resp.StatusCode < 500 || resp.StatusCode == http.StatusNotImplemented || resp.Request == nil:
			return false, nil
		}
		m := resp.Request.Method
		return m == http.MethodGet || m == http.MethodHead, nil
	}
}

// newAPIClient builds the vault/api client: address, timeout, TLS and namespace.
func newAPIClient(cfg Config) (*vault.Client, error) {
	vc := vault.DefaultConfig() // reads VAULT_ADDR, VAULT_CACERT, VAULT_SKIP_VERIFY, ...
	if vc.Error != nil {
		return nil, fmt.Errorf("reading Vault settings from the environment: %w", vc.Error)
	}
	addrs := splitAddrs(cfg.Address)
	if len(addrs) == 0 {
		addrs = splitAddrs(os.Getenv("VAULT_ADDR"))
	}
	if len(addrs) == 0 {
		return nil, errors.New("no Vault address: set vault_address (provider), --vault-addr or VAULT_ADDR, e.g. https://vault.example.com:8200 (several nodes of a cluster: separate them with commas)")
	}
	vc.Address = addrs[0]
	vc.Timeout = 30 * time.Second
	if cfg.Timeout > 0 {
		vc.Timeout = cfg.Timeout
	}
	vc.CheckRetry = retryPolicy(len(addrs) > 1)
	tls := &vault.TLSConfig{
		CACert: cfg.CACert, CAPath: cfg.CAPath, ClientCert: cfg.ClientCert, ClientKey: cfg.ClientKey,
		TLSServerName: cfg.TLSServerName, Insecure: cfg.SkipVerify,
	}
	if cfg.CACert != "" || cfg.CAPath != "" || cfg.ClientCert != "" || cfg.ClientKey != "" || cfg.TLSServerName != "" || cfg.SkipVerify {
		if err := vc.ConfigureTLS(tls); err != nil {
			return nil, fmt.Errorf("configuring TLS for Vault: %w", err)
		}
	}
	if len(addrs) > 1 {
		budget := cfg.FailoverBudget
		if budget <= 0 {
			budget = vc.Timeout / 2
		}
		f, err := newFailover(vc.HttpClient.Transport, addrs, budget, orLogger(cfg.Logger))
		if err != nil {
			return nil, err
		}
		vc.HttpClient.Transport = f
	}
	vc.HttpClient.Transport = newRedirectGuard(vc.HttpClient.Transport, addrs)
	mode := orDefault(cfg.Consistency, ConsistencyStrong)
	switch mode {
	case ConsistencyStrong, ConsistencyForward, ConsistencyEventual:
	default:
		return nil, fmt.Errorf("invalid Vault consistency %q: use %s (the default), %s or %s", cfg.Consistency, ConsistencyStrong, ConsistencyForward, ConsistencyEventual)
	}
	vc.HttpClient.Transport = &consistency{base: vc.HttpClient.Transport, mode: mode}
	c, err := vault.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("creating the Vault client for %s: %w", vc.Address, err)
	}
	if cfg.Namespace != "" {
		c.SetNamespace(cfg.Namespace)
	}
	return c, nil
}

// Verify checks that Vault answers and that the token is valid, with an actionable error.
func (c *Client) Verify(ctx context.Context) error {
	_, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err == nil {
		return nil
	}
	var re *vault.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusForbidden, http.StatusUnauthorized:
			//lint:ignore ST1005 Vault is a proper noun
			return fmt.Errorf("Vault at %s refused the token (%d): check vault_token / VAULT_TOKEN, it may be expired or revoked", c.Address(), re.StatusCode)
		case http.StatusServiceUnavailable:
			//lint:ignore ST1005 Vault is a proper noun
			return fmt.Errorf("Vault at %s is sealed or unavailable (503): unseal it or check its health", c.Address())
		}
		//lint:ignore ST1005 Vault is a proper noun
		return fmt.Errorf("Vault at %s answered %d: %s", c.Address(), re.StatusCode, strings.Join(re.Errors, "; "))
	}
	return fmt.Errorf("cannot reach Vault at %s: %v (check vault_address / VAULT_ADDR, the network and the TLS settings)", c.Address(), err)
}

func cleanErr(err error) error {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		//lint:ignore ST1005 Vault is a proper noun
		return fmt.Errorf("Vault answered %d: %s", re.StatusCode, strings.Join(re.Errors, "; "))
	}
	return err
}
