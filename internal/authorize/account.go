package authorize

import (
	"context"
	"fmt"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// AccountMismatchError refuses an authorization by another account than the one the
// connection was authorized with first: a link holder (or anyone who reaches the flow)
// cannot swap the account behind a connection. Nothing was stored. It holds account ids
// only, never a token.
type AccountMismatchError struct {
	Name string
	// Recorded is the connection's account; Presented is who signed in now.
	Recorded, Presented authconn.Account
}

func (e *AccountMismatchError) Error() string {
	return fmt.Sprintf("connection %q belongs to %s, but this sign-in was %s, so nothing was stored: sign in with the connection's account, "+
		"or ask an operator for a new-account authorization (`tokend authorize %s --new-account`, a link made with `tokend authorize %s --link --new-account`, "+
		"or Reconnect with \"a different account\" ticked on the status page)", e.Name, e.Recorded.String(), e.Presented.String(), e.Name, e.Name)
}

// recordedAccount is the connection's account: its account record, else the one in its
// token record (written before the account record existed); nil when unknown.
func recordedAccount(rec *store.AccountRecord, prev *authconn.TokenSet) *authconn.Account {
	if rec != nil {
		a := rec.Account
		return &a
	}
	if prev != nil {
		return prev.Account
	}
	return nil
}

// settleAccount compares the account of the new authorization ts with prev, the connection's
// recorded account: another account is refused unless newAccount; the same one (or one the
// provider said less about) keeps what prev knew. It fills res's account fields.
func settleAccount(name string, ts *authconn.TokenSet, prev *authconn.Account, newAccount bool, res *Result) error {
	res.NewAccountRequested, res.AccountChanged = newAccount, false
	switch {
	case prev.Conflicts(ts.Account) && !newAccount:
		return &AccountMismatchError{Name: name, Recorded: *prev, Presented: *ts.Account}
	case prev.Conflicts(ts.Account):
		res.AccountChanged = true
	default:
		ts.Account = ts.Account.Merge(prev)
	}
	res.Account = ts.Account
	return nil
}

// keepAccount writes a, the account of a stored authorization, to the connection's account
// record when it differs from rec (the record read before): the record outlives a revoke,
// so the next authorization is compared with it. It returns a warning when that failed.
func keepAccount(ctx context.Context, st Store, name string, a *authconn.Account, rec *store.AccountRecord) string {
	if a == nil || (rec != nil && rec.Account == *a) {
		return ""
	}
	version := 0
	if rec != nil {
		version = rec.Version
	}
	if _, err := st.PutAccount(ctx, name, &store.AccountRecord{Account: *a, RecordedAt: time.Now().UTC()}, version); err != nil {
		return "the account that authorized was stored with the tokens, but its account record (kept across revokes) could not be written: " + err.Error()
	}
	return ""
}

// accountMessage is the connection.authorized event's message: who authorized, and whether
// it replaced the connection's account.
func (r *Result) accountMessage() string {
	if r.Account == nil {
		return ""
	}
	msg := "authorized by " + r.Account.String()
	switch {
	case r.AccountChanged:
		msg += "; this replaced the connection's earlier account, as an operator asked"
	case r.NewAccountRequested:
		msg += "; a new account was allowed, and the same account signed in"
	}
	return msg
}
