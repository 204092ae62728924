package store

import (
	"strings"
	"testing"
)

// TestSummaryMetadataFitsOneValue: the summary keeps as many values as fit in Vault's
// 512-byte custom-metadata value, in key order, and reads back what it kept.
func TestSummaryMetadataFitsOneValue(t *testing.T) {
	if summaryMetadata(nil) != "" || parseSummaryMetadata("") != nil {
		t.Fatal("no metadata must give no summary value")
	}
	md := map[string]string{"a": strings.Repeat("x", 300), "b": strings.Repeat("y", 300), "c": "short"}
	v := summaryMetadata(md)
	if len(v) > maxMetadataValue {
		t.Fatalf("summary value of %d bytes, over %d", len(v), maxMetadataValue)
	}
	back := parseSummaryMetadata(v)
	if back["a"] != md["a"] || back["c"] != "short" || back["b"] != "" {
		t.Fatalf("kept %v; want a and c (b does not fit)", back)
	}
}
