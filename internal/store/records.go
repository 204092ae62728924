package store

import (
	"context"
	"slices"
	"strings"
)

// Records returns the KV v2 path (inside the mount) of every record under the store's
// prefix, sorted: connection configs, client secrets, tokens, refresh leases and API keys,
// including records written by other tools. Deleting everything tailor knows about leaves
// it empty, which is how tests and operators check that nothing outlived a connection. The
// change log (names and versions of recent writes, no values) is left out: it belongs to the
// store, not to any connection.
func (s *Store) Records(ctx context.Context) ([]string, error) {
	var out []string
	var walk func(dir string) error
	walk = func(dir string) error {
		keys, err := s.listRaw(ctx, dir)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if folder, ok := strings.CutSuffix(k, "/"); ok {
				if err := walk(dir + "/" + folder); err != nil {
					return err
				}
				continue
			}
			if p := dir + "/" + k; p != s.changesPath() {
				out = append(out, p)
			}
		}
		return nil
	}
	if err := walk(s.prefix); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}
