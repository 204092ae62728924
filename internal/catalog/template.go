package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Template is a URL template with {param} placeholders, given as one string or as a list of
// alternatives: the first alternative whose placeholders all have values is used (Salesforce:
// ["https://{hostname}/services/oauth2/token", "https://login.salesforce.com/services/oauth2/token"]).
// A value that is present but refused is an error, never a reason to fall back.
type Template []string

// UnmarshalJSON accepts a string or a list of strings.
func (t *Template) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*t = Template{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("a template is a string or a list of strings")
	}
	*t = many
	return nil
}

// First returns the first alternative, or "".
func (t Template) First() string {
	if len(t) == 0 {
		return ""
	}
	return t[0]
}

// ParamError is a parameter value refused by an entry's declaration, or a missing one. It
// never holds the value.
type ParamError struct {
	Entry, Param string
	Reason       string
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("%s: parameter %s: %s", e.Entry, e.Param, e.Reason)
}

// maxValue bounds every parameter value.
const maxValue = 255

var placeholderRE = regexp.MustCompile(`\{([a-zA-Z][a-zA-Z0-9_]*)\}`)

// Placeholders returns the names in tmpl, in order.
func Placeholders(tmpl string) []string {
	var out []string
	for _, m := range placeholderRE.FindAllStringSubmatch(tmpl, -1) {
		out = append(out, m[1])
	}
	return out
}

// Value returns the value of parameter name: values[name], else its default. Unknown names
// give "".
func (e *Entry) Value(name string, values map[string]string) string {
	if v := values[name]; v != "" {
		return v
	}
	if p := e.Param(name); p != nil {
		return p.Default
	}
	return ""
}

// Param returns the declaration of name, or nil.
func (e *Entry) Param(name string) *Param {
	for i := range e.Params {
		if e.Params[i].Name == name {
			return &e.Params[i]
		}
	}
	return nil
}

// Fill returns the URL of the first alternative of t whose placeholders all have a value
// (values, else defaults). Every value must match its parameter's pattern and the characters
// its URL part allows, and the result must have exactly the template's host and path with
// only the placeholders replaced.
func (e *Entry) Fill(t Template, values map[string]string) (string, error) {
	var missing []string
	for _, alt := range t {
		names := Placeholders(alt)
		ok := true
		for _, n := range names {
			if e.Value(n, values) == "" {
				ok, missing = false, append(missing, n)
			}
		}
		if ok {
			return e.fillOne(alt, values)
		}
	}
	if len(missing) == 0 {
		return "", nil // an empty template
	}
	return "", &ParamError{Entry: e.Name, Param: missing[0], Reason: "no value and no default"}
}

// fillOne fills one alternative and checks the result against the template.
func (e *Entry) fillOne(alt string, values map[string]string) (string, error) {
	var errs []error
	filled := placeholderRE.ReplaceAllStringFunc(alt, func(ph string) string {
		name := ph[1 : len(ph)-1]
		part := partOf(alt, strings.Index(alt, ph))
		v, err := e.checkValue(name, part, e.Value(name, values))
		if err != nil {
			errs = append(errs, err)
		}
		return v
	})
	if len(errs) > 0 {
		return "", errs[0]
	}
	if err := sameShape(alt, filled); err != nil {
		return "", &ParamError{Entry: e.Name, Param: strings.Join(Placeholders(alt), ","), Reason: err.Error()}
	}
	return filled, nil
}

// checkValue returns v as it goes into part, or why it may not.
func (e *Entry) checkValue(name, part, v string) (string, error) {
	p := e.Param(name)
	refuse := func(reason string) (string, error) {
		return "", &ParamError{Entry: e.Name, Param: name, Reason: reason}
	}
	switch {
	case p == nil:
		return refuse("not declared by the entry")
	case !slices.Contains(p.Where, part):
		return refuse("may not appear in the URL's " + part)
	case len(v) > maxValue:
		return refuse(fmt.Sprintf("longer than %d bytes", maxValue))
	case !p.matches(v):
		return refuse("does not match " + p.Pattern)
	case !partChars(part, v):
		return refuse("has characters its URL " + part + " does not allow")
	}
	if part == PartQuery {
		return url.QueryEscape(v), nil
	}
	return v, nil
}

var (
	hostRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
	pathRE   = regexp.MustCompile(`^[A-Za-z0-9_~-][A-Za-z0-9._~-]*$`)
	originRE = regexp.MustCompile(`^https://[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$`)
)

// partChars reports whether v holds only characters that part allows: lower-case DNS labels
// in a host, unreserved characters (no leading dot, never "..") in a path segment, an https origin
// without user, path, query or fragment; a query value is escaped instead.
func partChars(part, v string) bool {
	switch part {
	case PartHost:
		return hostRE.MatchString(v)
	case PartPath:
		return pathRE.MatchString(v) && !strings.Contains(v, "..")
	case PartOrigin:
		return originRE.MatchString(v)
	}
	return true
}

// partOf returns the URL part at byte i of the template tmpl.
func partOf(tmpl string, i int) string {
	if i == 0 {
		return PartOrigin
	}
	rest := tmpl
	if j := strings.Index(tmpl, "://"); j >= 0 && i > j {
		rest = tmpl[j+3:]
		i -= j + 3
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 && i > q {
		return PartQuery
	}
	if s := strings.IndexByte(rest, '/'); s >= 0 && i > s {
		return PartPath
	}
	return PartHost
}

// sameShape checks that filled is an absolute https URL without user or fragment whose
// host and path are the template's with the placeholders replaced, and nothing else.
func sameShape(tmpl, filled string) error {
	u, err := url.Parse(filled)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Fragment != "" || u.Opaque != "" || u.Host == "" {
		return errors.New("does not make an https URL of the template's shape")
	}
	wantHost, wantPath := splitTemplate(tmpl)
	if !globMatch(wantHost, u.Host, ".") || !globMatch(wantPath, u.EscapedPath(), "/") {
		return errors.New("changes the URL's host or path beyond its placeholder")
	}
	return nil
}

// splitTemplate returns the host and path of a template, with an origin placeholder counted
// as host.
func splitTemplate(tmpl string) (host, path string) {
	rest := strings.TrimPrefix(tmpl, "https://")
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	if strings.HasPrefix(tmpl, "{") {
		end := strings.IndexByte(rest, '}') + 1
		return rest[:end], rest[end:]
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i], rest[i:]
	}
	return rest, ""
}

// globMatch reports whether s is pattern with each placeholder replaced by a string that does
// not contain sep... except a host placeholder, which may hold dots: only the literal parts
// are compared, in order, anchored at both ends, and a path placeholder may not hold "/".
func globMatch(pattern, s, sep string) bool {
	lits := placeholderRE.Split(pattern, -1)
	if len(lits) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, lits[0]) {
		return false
	}
	s = s[len(lits[0]):]
	for i, lit := range lits[1:] {
		last := i == len(lits)-2
		var j int
		if last {
			if !strings.HasSuffix(s, lit) {
				return false
			}
			j = len(s) - len(lit)
		} else if j = strings.Index(s, lit); j < 0 || (lit == "" && j != 0) {
			return false
		}
		if j == 0 || (sep == "/" && strings.Contains(s[:j], "/")) {
			return false // an empty value, or one that spans path segments
		}
		s = s[j+len(lit):]
	}
	return true
}

// matches reports whether v matches the parameter's pattern; a pattern that does not compile
// (an entry that was not validated) matches nothing.
func (p *Param) matches(v string) bool {
	re, err := regexp.Compile(p.Pattern)
	return err == nil && strings.HasPrefix(p.Pattern, "^") && strings.HasSuffix(p.Pattern, "$") && re.MatchString(v)
}

// FillValue returns s (an extra parameter's or a header's value) with its placeholders
// replaced; each parameter must be declared for PartQuery and match its pattern. The value
// is not escaped: it goes into a form, a JSON body or a header, which encode it.
func (e *Entry) FillValue(s string, values map[string]string) (string, error) {
	var first error
	out := placeholderRE.ReplaceAllStringFunc(s, func(ph string) string {
		name := ph[1 : len(ph)-1]
		v := e.Value(name, values)
		if v == "" && first == nil {
			first = &ParamError{Entry: e.Name, Param: name, Reason: "no value and no default"}
		}
		if _, err := e.checkValue(name, PartQuery, v); err != nil && first == nil {
			first = err
		}
		return v
	})
	if first != nil {
		return "", first
	}
	if strings.ContainsAny(out, "\r\n\x00") {
		return "", &ParamError{Entry: e.Name, Param: strings.Join(Placeholders(s), ","), Reason: "has a line break"}
	}
	return out, nil
}

// FillValues returns m with FillValue applied to every value.
func (e *Entry) FillValues(m map[string]string, values map[string]string) (map[string]string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		f, err := e.FillValue(v, values)
		if err != nil {
			return nil, err
		}
		out[k] = f
	}
	return out, nil
}
