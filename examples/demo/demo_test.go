package main

import (
	"context"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// TestDemo runs every step of `make demo`, with freshly built binaries and headless
// Chromium, so that the demo keeps working as the code changes. Each step checks what it
// shows (a token active at Hydra, a refresh, no token in the ephemeral run's files) and
// fails the test otherwise.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo needs Vault, Hydra, OpenTofu, Chromium and node")
	}
	for _, tool := range []string{"vault", "hydra", "tofu", "chromium", "node"} {
		testenv.Binary(t, tool) // skips without the tool, fails in CI
	}
	bin := t.TempDir()
	testenv.Build(t, "./tokend", bin, "tokend")
	testenv.Build(t, ".", bin, "terraform-provider-tailor")
	d, err := newDemo(options{bin: bin, browser: "headless", ttl: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := d.run(ctx); err != nil {
		t.Fatal(err)
	}
}
