package catalog

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// CheckValues reports whether values can be a connection's parameters for e: every name is
// declared by the entry, every value matches its pattern and is allowed in each URL part the
// parameter is declared for, and every endpoint template can be filled (a required parameter
// without a default is present). The first problem is a *ParamError naming the parameter
// (and its pattern when the value does not match); no error holds a value.
func (e *Entry) CheckValues(values map[string]string) error {
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := e.checkDeclared(name, values[name]); err != nil {
			return err
		}
	}
	for _, t := range []Template{e.URLs.Issuer, e.URLs.Authorize, e.URLs.Token, e.URLs.Refresh,
		e.URLs.Revocation, e.URLs.Userinfo, e.URLs.DeviceAuthorization} {
		if _, err := e.Fill(t, values); err != nil {
			return e.explainMissing(err)
		}
	}
	return nil
}

// AcceptsValue reports whether v may be the value of name where name is a parameter of e
// (its pattern, in every URL part it is declared for). A name that is not a parameter is
// accepted: it fills no URL. Metadata learnt from a provider fills the same templates as the
// connection's parameters, so a value a parameter would refuse must not be kept either.
func (e *Entry) AcceptsValue(name, v string) bool {
	if e.Param(name) == nil {
		return true
	}
	return e.checkDeclared(name, v) == nil
}

// checkDeclared checks one value against its declaration, in every part it may go into.
func (e *Entry) checkDeclared(name, v string) error {
	p := e.Param(name)
	if p == nil {
		return &ParamError{Entry: e.Name, Param: name, Reason: "not declared by the entry; " + e.ParamList()}
	}
	if v == "" {
		return &ParamError{Entry: e.Name, Param: name, Reason: "empty: remove it, or give a value that matches " + p.Pattern}
	}
	for _, part := range p.Where {
		if _, err := e.checkValue(name, part, v); err != nil {
			return err
		}
	}
	return nil
}

// explainMissing adds the parameter's description to a missing parameter's error.
func (e *Entry) explainMissing(err error) error {
	pe, ok := err.(*ParamError)
	if !ok || !strings.HasPrefix(pe.Reason, "no value") {
		return err
	}
	if p := e.Param(pe.Param); p != nil {
		return &ParamError{Entry: e.Name, Param: pe.Param,
			Reason: fmt.Sprintf("required (%s), a value matching %s", strings.TrimSuffix(p.Description, "."), p.Pattern)}
	}
	return err
}

// ParamList says which parameters the entry declares, for error messages.
func (e *Entry) ParamList() string {
	if len(e.Params) == 0 {
		return "it takes no parameters"
	}
	var names []string
	for _, p := range e.Params {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return "its parameters are " + strings.Join(names, ", ")
}
