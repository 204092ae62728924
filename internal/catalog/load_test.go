package catalog

import "testing"

func TestEmbeddedEntriesLoad(t *testing.T) {
	entries, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 8 {
		t.Fatalf("%d entries", len(entries))
	}
}
