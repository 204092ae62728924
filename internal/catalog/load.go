package catalog

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
)

//go:embed providers/*.json
var providers embed.FS

// GenericName is the name of the entry of every provider that no other entry matches.
const GenericName = "oidc"

// Load returns the embedded entries, validated, sorted by name.
func Load() ([]*Entry, error) {
	return LoadFS(providers, "providers")
}

// LoadFS returns the entries of the *.json files in dir of fsys, validated, sorted by name.
func LoadFS(fsys fs.FS, dir string) ([]*Entry, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Entry
	var errs []error
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		e, err := Parse(b)
		if err == nil && e.Name != strings.TrimSuffix(path.Base(f), ".json") {
			err = fmt.Errorf("name %q is not the file's name", e.Name)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	errs = append(errs, checkHosts(out))
	return out, errors.Join(errs...)
}

// Parse decodes one entry (unknown fields are errors) and validates it.
func Parse(b []byte) (*Entry, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var e Entry
	if err := dec.Decode(&e); err != nil {
		return nil, err
	}
	return &e, e.Validate()
}

// checkHosts refuses a host that selects two entries.
func checkHosts(entries []*Entry) error {
	seen := map[string]string{}
	for _, e := range entries {
		for _, h := range e.Hosts {
			if other, ok := seen[h]; ok {
				return fmt.Errorf("host %s selects both %s and %s", h, other, e.Name)
			}
			seen[h] = e.Name
		}
	}
	return nil
}

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	dateRE  = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	fieldRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
)

// Validate reports every problem with e in one error.
func (e *Entry) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !nameRE.MatchString(e.Name) {
		bad("name %q: lower-case letters, digits and hyphens", e.Name)
	}
	if e.NoRefreshTokenAdvice == "" || e.RedirectNotes == "" {
		bad("no_refresh_token_advice and redirect_notes are required")
	}
	if e.Name != GenericName && (len(e.Hosts) == 0 || len(e.URLs.Token) == 0) {
		bad("hosts and endpoints.token are required")
	}
	if e.Name != GenericName && slices.Contains(e.Grants(), GrantAuthorizationCode) && len(e.URLs.Authorize) == 0 {
		bad("endpoints.authorize is required for the authorization_code grant")
	}
	if e.Checked != "" && !dateRE.MatchString(e.Checked) {
		bad("checked %q: a date, YYYY-MM-DD", e.Checked)
	}
	for _, g := range e.GrantTypes {
		if !slices.Contains([]string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode}, g) {
			bad("grant_types: %q is not a known grant type", g)
		}
	}
	for _, n := range e.TokenQuery {
		if IsSecretName(n) {
			bad("token_query %q: a secret never goes in a URL", n)
		}
	}
	errs = append(errs, e.checkParams(), e.checkTemplates(), e.checkChoices(), e.checkMetadata())
	return errors.Join(errs...)
}

// checkParams checks each declaration: a name, a description, an anchored pattern that
// compiles and that its default matches, and known URL parts.
func (e *Entry) checkParams() error {
	var errs []error
	for _, p := range e.Params {
		re, err := regexp.Compile(p.Pattern)
		switch {
		case !placeholderRE.MatchString("{" + p.Name + "}"):
			errs = append(errs, fmt.Errorf("param %q: a name of letters, digits and _", p.Name))
		case p.Description == "" || len(p.Where) == 0:
			errs = append(errs, fmt.Errorf("param %s: description and where are required", p.Name))
		case err != nil || !strings.HasPrefix(p.Pattern, "^") || !strings.HasSuffix(p.Pattern, "$"):
			errs = append(errs, fmt.Errorf("param %s: pattern must be an anchored (^...$) regular expression", p.Name))
		case p.Default != "" && !re.MatchString(p.Default):
			errs = append(errs, fmt.Errorf("param %s: the default does not match the pattern", p.Name))
		}
		for _, w := range p.Where {
			if !slices.Contains([]string{PartOrigin, PartHost, PartPath, PartQuery}, w) {
				errs = append(errs, fmt.Errorf("param %s: where %q is not origin, host, path or query", p.Name, w))
			}
		}
	}
	return errors.Join(errs...)
}

// templates returns every URL template of e, by field name.
func (e *Entry) templates() map[string]Template {
	t := map[string]Template{
		"issuer": e.URLs.Issuer, "authorize": e.URLs.Authorize, "token": e.URLs.Token, "refresh": e.URLs.Refresh,
		"revocation": e.URLs.Revocation, "userinfo": e.URLs.Userinfo, "device_authorization": e.URLs.DeviceAuthorization,
		"api.base_url": e.API.BaseURL,
	}
	if e.Metadata.Call != nil {
		t["metadata.call.url"] = e.Metadata.Call.URL
	}
	return t
}

// checkTemplates checks that every alternative is an https URL or starts with an origin
// placeholder, and that each placeholder is declared for the part it appears in.
func (e *Entry) checkTemplates() error {
	var errs []error
	for field, t := range e.templates() {
		for _, alt := range t {
			if !strings.HasPrefix(alt, "https://") && !strings.HasPrefix(alt, "{") {
				errs = append(errs, fmt.Errorf("%s: %q is neither an https:// URL nor one starting with an {origin} placeholder", field, alt))
			}
			if strings.Contains(alt, "}{") || strings.Contains(alt, "#") {
				errs = append(errs, fmt.Errorf("%s: %q has adjacent placeholders or a fragment", field, alt))
			}
			errs = append(errs, e.checkPlaceholders(field, alt, true))
		}
	}
	for step, m := range map[string]map[string]string{"authorize": e.ExtraParams.Authorize, "token": e.ExtraParams.Token,
		"refresh": e.ExtraParams.Refresh, "revoke": e.ExtraParams.Revoke, "api.headers": e.API.Headers} {
		for _, v := range m {
			errs = append(errs, e.checkPlaceholders("extra_params."+step, "?"+v, false))
		}
	}
	return errors.Join(errs...)
}

// checkPlaceholders checks the placeholders of one template.
func (e *Entry) checkPlaceholders(field, tmpl string, isURL bool) error {
	var errs []error
	for _, loc := range placeholderRE.FindAllStringSubmatchIndex(tmpl, -1) {
		name := tmpl[loc[2]:loc[3]]
		part := PartQuery
		if isURL {
			part = partOf(tmpl, loc[0])
		}
		p := e.Param(name)
		if p == nil || !slices.Contains(p.Where, part) {
			errs = append(errs, fmt.Errorf("%s: {%s} must be declared in params with %q in where", field, name, part))
		}
	}
	return errors.Join(errs...)
}

// checkChoices checks the fields that take one of a few values.
func (e *Entry) checkChoices() error {
	var errs []error
	one := func(field, v string, allowed ...string) {
		if v != "" && !slices.Contains(allowed, v) {
			errs = append(errs, fmt.Errorf("%s %q: one of %s", field, v, strings.Join(allowed, ", ")))
		}
	}
	one("client_auth", e.ClientAuth, ClientAuthBasic, ClientAuthPost, ClientAuthNone, ClientAuthPrivateKeyJWT)
	one("token_body", e.TokenBody, BodyForm, BodyJSON)
	one("revocation.kind", e.Revocation.Kind, RevokeRFC7009, RevokeJSON, RevokeCall, RevokeNone)
	if k := e.RevocationKind(); k != RevokeNone && len(e.URLs.Revocation) == 0 {
		errs = append(errs, fmt.Errorf("revocation.kind %s needs endpoints.revocation", k))
	}
	if e.Tenant != nil && e.Param(e.TenantParam()) == nil {
		errs = append(errs, fmt.Errorf("tenant: param %s is not declared", e.TenantParam()))
	}
	if e.TokenResponse.DefaultLifetime < 0 {
		errs = append(errs, errors.New("token_response.default_lifetime must not be negative"))
	}
	return errors.Join(errs...)
}

// TenantParam is the parameter the tenant rule fills.
func (e *Entry) TenantParam() string {
	if e.Tenant == nil || e.Tenant.Param == "" {
		return "tenant"
	}
	return e.Tenant.Param
}

// checkMetadata keeps metadata non-secret and well formed: no name or path that looks like a
// secret (IsSecretName), dotted paths, and a complete metadata call.
func (e *Entry) checkMetadata() error {
	var errs []error
	m := e.Metadata
	vals := append(append([]Value{}, m.Callback...), m.Token...)
	if c := m.Call; c != nil {
		vals = append(vals, c.Values...)
		if len(c.URL) == 0 || len(c.Values) == 0 {
			errs = append(errs, errors.New("metadata.call: url and values are required"))
		}
		if c.Body != "" && !json.Valid([]byte(c.Body)) {
			errs = append(errs, errors.New("metadata.call.body: not JSON"))
		}
		if !slices.Contains([]string{PickFirst, PickOnly, PickMatch}, c.Pick) {
			errs = append(errs, fmt.Errorf("metadata.call.pick %q: first, only or match", c.Pick))
		}
		if c.Pick == PickMatch && (c.MatchField == "" || e.Param(c.MatchParam) == nil) {
			errs = append(errs, errors.New("metadata.call: pick match needs match_field and a declared match_param"))
		}
	}
	for _, v := range vals {
		switch {
		case IsSecretName(v.Name) || IsSecretName(v.From):
			errs = append(errs, fmt.Errorf("metadata %s (from %s) looks like a secret: metadata holds non-secret values only", v.Name, v.From))
		case !fieldRE.MatchString(v.Name) || strings.Contains(v.Name, ".") || !fieldRE.MatchString(v.From):
			errs = append(errs, fmt.Errorf("metadata %q from %q: a name and a dotted path", v.Name, v.From))
		}
	}
	return errors.Join(errs...)
}
