package authconn

import "strings"

// Conflicts reports whether a and b name different accounts: some field that both have
// differs. Fields that one side lacks cannot be compared and do not conflict; nil conflicts
// with nothing.
func (a *Account) Conflicts(b *Account) bool {
	if a == nil || b == nil {
		return false
	}
	differ := func(x, y string) bool { return x != "" && y != "" && x != y }
	return differ(strings.TrimSuffix(a.Issuer, "/"), strings.TrimSuffix(b.Issuer, "/")) ||
		differ(a.Subject, b.Subject) || differ(a.Tenant, b.Tenant) || differ(a.Realm, b.Realm)
}

// Merge returns a with the fields it lacks taken from prev: what a later authorization
// did not say about the account stays as the first one recorded it. Nil when both are nil.
func (a *Account) Merge(prev *Account) *Account {
	if a == nil && prev == nil {
		return nil
	}
	var out Account
	if prev != nil {
		out = *prev
	}
	if a != nil {
		for _, f := range []struct {
			dst *string
			src string
		}{{&out.Issuer, a.Issuer}, {&out.Subject, a.Subject}, {&out.Tenant, a.Tenant}, {&out.Realm, a.Realm}} {
			if f.src != "" {
				*f.dst = f.src
			}
		}
	}
	return &out
}

// String describes the account for people: "subject S at issuer I, tenant T, realm R"
// (ids only, no secret), or "an unknown account".
func (a *Account) String() string {
	if a == nil || *a == (Account{}) {
		return "an unknown account"
	}
	var parts []string
	if a.Subject != "" {
		s := "subject " + a.Subject
		if a.Issuer != "" {
			s += " at " + a.Issuer
		}
		parts = append(parts, s)
	} else if a.Issuer != "" {
		parts = append(parts, "issuer "+a.Issuer)
	}
	if a.Tenant != "" {
		parts = append(parts, "tenant "+a.Tenant)
	}
	if a.Realm != "" {
		parts = append(parts, "realm (company) "+a.Realm)
	}
	return strings.Join(parts, ", ")
}
