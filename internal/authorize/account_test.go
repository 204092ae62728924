package authorize

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// TestAttackF7_CLIAnotherCompanyIsRefusedUnlessNewAccount: QuickBooks connection authorized
// for company (realmId) A with `tokend authorize`; authorizing it again with company B is
// refused before anything is stored, with an error naming both; --new-account allows it.
func TestAttackF7_CLIAnotherCompanyIsRefusedUnlessNewAccount(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	f := newFakeProvider(t, "basic", "")
	createConn(t, st, f.conn("qb", "https://appcenter.intuit.com/connect/oauth2", "https://oauth.platform.intuit.com/op/v1"), f.secret)
	ctx := context.Background()
	authorizeRealm := func(realm string, newAccount bool) error {
		f.mu.Lock()
		f.callbackExtra = url.Values{"realmId": {realm}}
		f.mu.Unlock()
		_, b, _, _, err := runAuthorize(t, st, Options{Name: "qb", Scopes: []string{"com.intuit.quickbooks.accounting"}, NewAccount: newAccount})
		b.page(t)
		return err
	}
	if err := authorizeRealm("1111", false); err != nil {
		t.Fatal(err)
	}
	first, err := st.GetTokens(ctx, "qb")
	if err != nil || first.Account == nil || first.Account.Realm != "1111" {
		t.Fatalf("invariant «the first authorization records its account»: %+v %v", first, err)
	}
	err = authorizeRealm("2222", false)
	var am *AccountMismatchError
	if !errors.As(err, &am) || !strings.Contains(err.Error(), "1111") || !strings.Contains(err.Error(), "2222") || !strings.Contains(err.Error(), "--new-account") {
		t.Fatalf("invariant «another account is refused»: %v", err)
	}
	if now, _ := st.GetTokens(ctx, "qb"); now.Version != first.Version {
		t.Fatalf("invariant «a refused account stores nothing»: version %d, was %d", now.Version, first.Version)
	}
	if err := authorizeRealm("1111", false); err != nil {
		t.Fatalf("the same company again: %v", err)
	}
	if err := authorizeRealm("2222", true); err != nil {
		t.Fatalf("--new-account: %v", err)
	}
	if acct, err := st.GetAccount(ctx, "qb"); err != nil || acct.Account.Realm != "2222" {
		t.Fatalf("the account record after --new-account: %+v %v", acct, err)
	}
}
