// Package vaultclient builds the HashiCorp Vault API client that the Terraform provider and
// tokend share: address, namespace and TLS settings, and authentication by token or AppRole,
// with the same VAULT_* environment fallbacks as the Vault CLI.
package vaultclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
)

// Config says how to reach and authenticate to Vault. Empty fields fall back to the
// environment variables named in their comments.
type Config struct {
	Address   string // VAULT_ADDR
	Token     string // VAULT_TOKEN (ignored when AppRole is set)
	Namespace string // VAULT_NAMESPACE

	CACert        string // VAULT_CACERT: PEM file of the CA that signed Vault's certificate
	CAPath        string // VAULT_CAPATH: directory of PEM CA files
	ClientCert    string // VAULT_CLIENT_CERT
	ClientKey     string // VAULT_CLIENT_KEY
	TLSServerName string // VAULT_TLS_SERVER_NAME
	SkipVerify    bool   // VAULT_SKIP_VERIFY

	// AppRole logs in with a role id and a secret id read from a file, instead of a token.
	AppRole *AppRole

	// Timeout bounds each request to Vault; 0 means 30 seconds.
	Timeout time.Duration
}

// AppRole is the AppRole auth method's login data.
type AppRole struct {
	RoleID       string // VAULT_ROLE_ID
	SecretIDFile string // VAULT_SECRET_ID_FILE: a file holding the secret id (never an argument)
	MountPath    string // default "approle"
}

// Client is a configured Vault API client. For AppRole logins, Close stops the background
// token renewal.
type Client struct {
	*vault.Client
	stop context.CancelFunc
}

// Close stops background token renewal, if any.
func (c *Client) Close() {
	if c.stop != nil {
		c.stop()
	}
}

// New builds a client from cfg and the environment and authenticates it. It does not check
// that the token is valid; call Verify for that.
func New(ctx context.Context, cfg Config) (*Client, error) {
	vc := vault.DefaultConfig() // reads VAULT_ADDR, VAULT_CACERT, VAULT_SKIP_VERIFY, ...
	if vc.Error != nil {
		return nil, fmt.Errorf("reading Vault settings from the environment: %w", vc.Error)
	}
	if cfg.Address != "" {
		vc.Address = cfg.Address
	}
	if os.Getenv("VAULT_ADDR") == "" && cfg.Address == "" {
		return nil, errors.New("no Vault address: set vault_address (provider), --vault-addr or VAULT_ADDR, e.g. https://vault.example.com:8200")
	}
	if cfg.Timeout > 0 {
		vc.Timeout = cfg.Timeout
	} else {
		vc.Timeout = 30 * time.Second
	}
	tls := &vault.TLSConfig{
		CACert: cfg.CACert, CAPath: cfg.CAPath, ClientCert: cfg.ClientCert, ClientKey: cfg.ClientKey,
		TLSServerName: cfg.TLSServerName, Insecure: cfg.SkipVerify,
	}
	if cfg.CACert != "" || cfg.CAPath != "" || cfg.ClientCert != "" || cfg.ClientKey != "" || cfg.TLSServerName != "" || cfg.SkipVerify {
		if err := vc.ConfigureTLS(tls); err != nil {
			return nil, fmt.Errorf("configuring TLS for Vault: %w", err)
		}
	}
	c, err := vault.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("creating the Vault client for %s: %w", vc.Address, err)
	}
	if cfg.Namespace != "" {
		c.SetNamespace(cfg.Namespace)
	}
	client := &Client{Client: c}

	ar := cfg.AppRole
	if ar == nil && os.Getenv("VAULT_ROLE_ID") != "" {
		ar = &AppRole{RoleID: os.Getenv("VAULT_ROLE_ID"), SecretIDFile: os.Getenv("VAULT_SECRET_ID_FILE")}
	}
	if ar != nil {
		if err := client.loginAppRole(ctx, ar); err != nil {
			return nil, err
		}
		return client, nil
	}
	if cfg.Token != "" {
		c.SetToken(cfg.Token)
	}
	if c.Token() == "" {
		return nil, errors.New("no Vault token: set vault_token (provider) or VAULT_TOKEN, or use AppRole (VAULT_ROLE_ID and VAULT_SECRET_ID_FILE)")
	}
	return client, nil
}

func (c *Client) loginAppRole(ctx context.Context, ar *AppRole) error {
	if ar.RoleID == "" || ar.SecretIDFile == "" {
		return errors.New("AppRole login needs a role id (VAULT_ROLE_ID or --vault-role-id) and a secret id file (VAULT_SECRET_ID_FILE or --vault-secret-id-file)")
	}
	mount := ar.MountPath
	if mount == "" {
		mount = "approle"
	}
	auth, err := approle.NewAppRoleAuth(ar.RoleID, &approle.SecretID{FromFile: ar.SecretIDFile}, approle.WithMountPath(mount))
	if err != nil {
		return fmt.Errorf("AppRole login: %w", err)
	}
	secret, err := c.Auth().Login(ctx, auth)
	if err != nil {
		return fmt.Errorf("AppRole login at auth/%s failed (check the role id and the secret id file): %w", mount, cleanErr(err))
	}
	if secret == nil || secret.Auth == nil {
		return errors.New("AppRole login returned no token")
	}
	rctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	go c.renew(rctx, auth, secret)
	return nil
}

// renew keeps the AppRole token alive, and logs in again when it can no longer be renewed.
func (c *Client) renew(ctx context.Context, auth vault.AuthMethod, secret *vault.Secret) {
	for {
		if secret.Auth.Renewable {
			w, err := c.NewLifetimeWatcher(&vault.LifetimeWatcherInput{Secret: secret})
			if err == nil {
				go w.Start()
				select {
				case <-ctx.Done():
					w.Stop()
					return
				case <-w.DoneCh():
				}
				w.Stop()
			}
		} else {
			wait := time.Duration(secret.Auth.LeaseDuration) * time.Second * 2 / 3
			if wait <= 0 {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		for backoff := time.Second; ; backoff = min(backoff*2, time.Minute) {
			s, err := c.Auth().Login(ctx, auth)
			if err == nil && s != nil && s.Auth != nil {
				secret = s
				break
			}
			slog.Warn("Vault AppRole re-login failed; retrying", "in", backoff, "error", cleanErr(err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
	}
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
			return fmt.Errorf("Vault at %s refused the token (%d): check vault_token / VAULT_TOKEN, it may be expired or revoked", c.Address(), re.StatusCode)
		case http.StatusServiceUnavailable:
			return fmt.Errorf("Vault at %s is sealed or unavailable (503): unseal it or check its health", c.Address())
		}
		return fmt.Errorf("Vault at %s answered %d: %s", c.Address(), re.StatusCode, strings.Join(re.Errors, "; "))
	}
	return fmt.Errorf("cannot reach Vault at %s: %v (check vault_address / VAULT_ADDR, the network and the TLS settings)", c.Address(), err)
}

func cleanErr(err error) error {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("Vault answered %d: %s", re.StatusCode, strings.Join(re.Errors, "; "))
	}
	return err
}
