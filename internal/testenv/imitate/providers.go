package imitate

import "testing"

// Providers returns the constructor of every imitation, by provider name.
func Providers() map[string]func(testing.TB) *Imitation {
	m := map[string]func(testing.TB) *Imitation{
		"quickbooks":         QuickBooks,
		"quickbooks-sandbox": QuickBooksSandbox,
		"salesforce":         Salesforce,
		"slack":              Slack,
		"xero":               Xero,
		"jira":               Jira,
		"hubspot":            HubSpot,
		"shopify":            Shopify,
		"zendesk":            Zendesk,
		"notion":             Notion,
		"dropbox":            Dropbox,
		"box":                Box,
		"docusign":           DocuSign,
		"linear":             Linear,
		"asana":              Asana,
		"zoom":               Zoom,
		"pipedrive":          Pipedrive,
		"microsoft":          Microsoft,
		"github":             GitHub,
		"google":             Google,
		"okta":               Okta,
		"figma":              Figma,
		"zoho":               Zoho,
		"linkedin":           LinkedIn,
		"mailchimp":          Mailchimp,
		"gitlab":             GitLab,
		"bitbucket":          Bitbucket,
		"calendly":           Calendly,
		"clickup":            ClickUp,
		"stripe":             Stripe,
		"monday":             Monday,
	}
	m["microsoft-graph-app"] = MicrosoftGraphApp
	return m
}
