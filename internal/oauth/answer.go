package oauth

import (
	"encoding/json"

	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
)

// normalizeAnswer rewrites a 2xx token answer into the RFC 6749 shape the rest of the
// package (and x/oauth2) reads, following the entry's token_response rules: an answer whose
// OKField is false becomes an error answer (ok false: status 400, with the code from
// ErrorField), and tokens and lifetimes found at their paths move to the top level (the
// nested copies are removed, so that no other field of the answer holds a token). It returns
// the body unchanged when the rules ask for nothing or the body is not a JSON object.
func normalizeAnswer(body []byte, tr catalog.TokenResponse) ([]byte, bool) {
	if tr.OKField == "" && tr.AccessTokenPath == "" && tr.RefreshTokenPath == "" && tr.ExpiresInPath == "" &&
		(tr.ErrorField == "" || tr.ErrorField == "error") {
		return body, false
	}
	var doc map[string]any
	if json.Unmarshal(body, &doc) != nil {
		return body, false
	}
	if failed := answerFailed(doc, tr); failed != nil {
		b, _ := json.Marshal(failed)
		return b, true
	}
	for field, path := range map[string]string{"access_token": tr.AccessTokenPath, "refresh_token": tr.RefreshTokenPath, "expires_in": tr.ExpiresInPath} {
		if path == "" {
			continue
		}
		if v, ok := catalog.Lookup(doc, path); ok {
			doc[field] = v
			catalog.Delete(doc, path)
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return body, false
	}
	return out, false
}

// answerFailed returns the RFC 6749 error body of an answer that reports an error with a 2xx
// status (OKField false, or a code in ErrorField), or nil.
func answerFailed(doc map[string]any, tr catalog.TokenResponse) map[string]string {
	field := tr.ErrorField
	if field == "" {
		field = "error"
	}
	code, _ := catalog.Lookup(doc, field)
	codeText, _ := catalog.Scalar(code)
	ok := true
	if tr.OKField != "" {
		v, found := catalog.Lookup(doc, tr.OKField)
		ok = found && v == true
	}
	if ok && (codeText == "" || field == "error") {
		return nil // an "error" field of a 2xx answer is read by x/oauth2 itself
	}
	if codeText == "" {
		codeText = "provider_error"
	}
	desc, _ := catalog.Lookup(doc, "error_description")
	descText, _ := catalog.Scalar(desc)
	return map[string]string{"error": codeText, "error_description": descText}
}
