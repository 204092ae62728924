package proxy

import "testing"

func TestPathTemplateKeepsTheAPIsWordsOnly(t *testing.T) {
	md := map[string]string{"realmId": "9130000000000357", "tenant_id": "a3f1c2d4-9b8e-4f7a-8c6d-1e2f3a4b5c6d", "empty": ""}
	for _, tc := range []struct{ in, want string }{
		{"/v3/company/9130000000000357/companyinfo/9130000000000357", "/v3/company/{realmId}/companyinfo/{realmId}"},
		{"/api.xro/2.0/Invoices/a3f1c2d4-9b8e-4f7a-8c6d-1e2f3a4b5c6d", "/api.xro/2.0/Invoices/{tenant_id}"},
		{"/gmail/v1/users/alice%40example.com/messages/18c2f0a9b7e6d5c4", "/gmail/v1/users/{id}/messages/{id}"},
		{"/oauth2/v2/userinfo", "/oauth2/v2/userinfo"},
		{"/reports/2026-12-06", "/reports/{id}"},
		{"/users/12345", "/users/{id}"},
		{"/users/7", "/users/{id}"},
		{"/search/hello%20world", "/search/{id}"},
		{"/services/data/v59.0/sobjects/Account/001xx000003DGb2AAG", "/services/data/v59.0/sobjects/Account/{id}"},
		{"/a/" + "verylongsegmentthatisprobablyanopaquevaluewithoutdigits", "/a/{id}"},
		{"/", "/"},
		{"", ""},
		{"/x//y/", "/x//y/"},
	} {
		if got := pathTemplate(tc.in, md); got != tc.want {
			t.Errorf("pathTemplate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestPathTemplateNeverKeepsAMetadataValue: a value of the connection's metadata never
// appears in the template, even when it reads as a word.
func TestPathTemplateNeverKeepsAMetadataValue(t *testing.T) {
	md := map[string]string{"subdomain": "acme", "org": "acme"}
	if got := pathTemplate("/api/v2/acme/tickets", md); got != "/api/v2/{org}/tickets" {
		t.Errorf("got %q, want the first key in sorted order in place of the value", got)
	}
}
