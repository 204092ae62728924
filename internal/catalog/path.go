package catalog

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// Lookup returns the value at the dotted path in doc (decoded JSON): each segment names an
// object member, or a list index ("items.0.id"). The empty path is doc itself.
func Lookup(doc any, path string) (any, bool) {
	if path == "" {
		return doc, doc != nil
	}
	cur := doc
	for _, seg := range strings.Split(path, ".") {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[seg]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, cur != nil
}

// Delete removes the member at the dotted path of doc, when it is in an object.
func Delete(doc any, path string) {
	parent, last := path, path
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		parent, last = path[:i], path[i+1:]
	} else {
		parent = ""
	}
	if m, ok := lookupOrSelf(doc, parent).(map[string]any); ok {
		delete(m, last)
	}
}

func lookupOrSelf(doc any, path string) any {
	v, _ := Lookup(doc, path)
	return v
}

// Scalar returns a string, number or boolean as text; ok is false for objects, lists and null.
func Scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// secretNames are names whose values are secrets, compared case-insensitively with every
// segment of a metadata path and with a metadata name.
var secretNames = []string{"access_token", "refresh_token", "id_token", "code", "code_verifier", "client_assertion", "token"}

// IsSecretName reports whether a metadata name or dotted path looks like a secret: a
// segment named access_token, refresh_token, id_token, token, code (the authorization
// code), code_verifier or client_assertion, or containing "secret", "password" or "apikey".
func IsSecretName(path string) bool {
	for _, seg := range strings.Split(strings.ToLower(path), ".") {
		if slices.Contains(secretNames, seg) {
			return true
		}
		for _, s := range []string{"secret", "password", "apikey", "api_key"} {
			if strings.Contains(seg, s) {
				return true
			}
		}
	}
	return false
}
