package oauth

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
)

// TestNormalizeAnswerRules: the token_response rules of an entry, one by one.
func TestNormalizeAnswerRules(t *testing.T) {
	slack := catalog.TokenResponse{OKField: "ok", AccessTokenPath: "authed_user.access_token"}
	for _, tc := range []struct {
		name, body string
		tr         catalog.TokenResponse
		failed     bool
		want       map[string]any
	}{
		{"no rules: unchanged", `{"access_token":"a"}`, catalog.TokenResponse{}, false, map[string]any{"access_token": "a"}},
		{"ok false", `{"ok":false,"error":"invalid_code"}`, slack, true, map[string]any{"error": "invalid_code", "error_description": ""}},
		{"ok missing counts as false", `{"access_token":"a"}`, slack, true, map[string]any{"error": "provider_error", "error_description": ""}},
		{"ok not a boolean", `{"ok":"true","access_token":"a"}`, slack, true, map[string]any{"error": "provider_error", "error_description": ""}},
		{"nested token lifted, nested copy removed", `{"ok":true,"authed_user":{"id":"U","access_token":"p"}}`, slack, false,
			map[string]any{"ok": true, "access_token": "p", "authed_user": map[string]any{"id": "U"}}},
		{"absent path keeps the top level", `{"ok":true,"access_token":"b"}`, slack, false, map[string]any{"ok": true, "access_token": "b"}},
		{"own error field", `{"status":"bad_code"}`, catalog.TokenResponse{ErrorField: "status"}, true, map[string]any{"error": "bad_code", "error_description": ""}},
		{"not JSON: unchanged", `access_token=a`, slack, false, nil},
	} {
		out, failed := normalizeAnswer([]byte(tc.body), tc.tr)
		var got map[string]any
		_ = json.Unmarshal(out, &got)
		if failed != tc.failed || (tc.want != nil && !jsonEqual(got, tc.want)) || (tc.want == nil && string(out) != tc.body) {
			t.Errorf("%s: failed %v, %s", tc.name, failed, out)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestPickItemRules: first, only, match (and match without a value: only), items at a path.
func TestPickItemRules(t *testing.T) {
	doc := map[string]any{"data": map[string]any{"sites": []any{map[string]any{"id": "1"}, map[string]any{"id": "2"}}}}
	call := func(pick string) *catalog.MetadataCall {
		return &catalog.MetadataCall{Items: "data.sites", Pick: pick, MatchField: "id", MatchParam: "site"}
	}
	if it, err := pickItem(doc, call("first"), ""); err != nil || it.(map[string]any)["id"] != "1" {
		t.Errorf("first: %v %v", it, err)
	}
	if it, err := pickItem(doc, call("match"), "2"); err != nil || it.(map[string]any)["id"] != "2" {
		t.Errorf("match: %v %v", it, err)
	}
	var me *MetadataError
	if _, err := pickItem(doc, call("only"), ""); !errors.As(err, &me) || me.Kind != MetadataSeveral || me.Count != 2 {
		t.Errorf("only with two: %v", err)
	}
	if _, err := pickItem(doc, call("match"), ""); !errors.As(err, &me) || me.Kind != MetadataSeveral {
		t.Errorf("match without a value is only: %v", err)
	}
	if _, err := pickItem(doc, call("match"), "3"); !errors.As(err, &me) || me.Kind != MetadataNone {
		t.Errorf("no match: %v", err)
	}
	one := map[string]any{"id": "x"}
	if it, err := pickItem(one, &catalog.MetadataCall{Pick: "only"}, ""); err != nil || it.(map[string]any)["id"] != "x" {
		t.Errorf("one object answer: %v %v", it, err)
	}
}
