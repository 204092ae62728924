package authconn

import "testing"

func TestAccountConflictsOnlyOnFieldsBothSidesHave(t *testing.T) {
	a := &Account{Issuer: "https://idp.example.com/", Subject: "alice", Realm: "1"}
	cases := []struct {
		b    *Account
		want bool
	}{
		{nil, false},
		{&Account{}, false},
		{&Account{Issuer: "https://idp.example.com", Subject: "alice"}, false},
		{&Account{Subject: "bob"}, true},
		{&Account{Issuer: "https://other.example.com", Subject: "alice"}, true},
		{&Account{Realm: "2"}, true},
		{&Account{Tenant: "t"}, false},
	}
	for _, c := range cases {
		if got := a.Conflicts(c.b); got != c.want || c.b.Conflicts(a) != c.want {
			t.Errorf("Conflicts(%+v) = %v, want %v", c.b, got, c.want)
		}
	}
	if (*Account)(nil).Conflicts(a) {
		t.Error("nil conflicts")
	}
}

func TestAccountMergeKeepsWhatTheFirstAuthorizationSaid(t *testing.T) {
	got := (&Account{Subject: "alice"}).Merge(&Account{Issuer: "https://idp.example.com", Subject: "alice", Realm: "1"})
	if *got != (Account{Issuer: "https://idp.example.com", Subject: "alice", Realm: "1"}) {
		t.Fatalf("Merge = %+v", got)
	}
	if (*Account)(nil).Merge(nil) != nil {
		t.Fatal("nil.Merge(nil) is not nil")
	}
	if s := got.String(); s != "subject alice at https://idp.example.com, realm (company) 1" {
		t.Fatalf("String = %q", s)
	}
}
