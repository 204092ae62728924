package authorize

import (
	"maps"
	"testing"
)

// TestAccountValuesPreferTheCallback: the account keys are looked up in the callback's
// values, then in the metadata for a key the callback lacks (a tenant learnt after
// connecting); the callback wins where both have the key.
func TestAccountValuesPreferTheCallback(t *testing.T) {
	got := accountValues(map[string]string{"realmId": "1", "empty": ""}, map[string]string{"realmId": "2", "tenant_id": "t", "empty": "m"})
	want := map[string]string{"realmId": "1", "tenant_id": "t", "empty": "m"}
	if !maps.Equal(got, want) {
		t.Fatalf("accountValues = %v, want %v", got, want)
	}
	if got := accountValues(map[string]string{"realmId": "1"}, nil); !maps.Equal(got, map[string]string{"realmId": "1"}) {
		t.Fatalf("without metadata: %v", got)
	}
}
