// Package secretfile reads a secret that an operator hands to a command in a file or on
// standard input, with one policy: the file must be a regular file or a named pipe (never a
// directory or a device), a regular file that others may read draws a warning, at most a
// given number of bytes is read, and the secret is the content without surrounding white
// space, never empty. Errors name where the secret came from, never the secret.
package secretfile

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// Read reads the secret in the file at path, of at most limit bytes, and writes a warning
// to warn when the file's mode lets others read it.
func Read(warn io.Writer, path string, limit int) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("reading the client secret file: %w", err)
	}
	if !fi.Mode().IsRegular() && fi.Mode()&os.ModeNamedPipe == 0 {
		return "", fmt.Errorf("the client secret file %s is not a regular file", path)
	}
	if fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(warn, "Warning: %s can be read by other users (mode %s); chmod 600 it.\n", path, fi.Mode().Perm())
	}
	fh, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading the client secret file: %w", err)
	}
	defer fh.Close()
	return ReadFrom(fh, "the file "+path, limit)
}

// ReadFrom reads a secret of at most limit bytes from r, without surrounding white space;
// from names r in errors ("standard input", "the file F").
func ReadFrom(r io.Reader, from string, limit int) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return "", fmt.Errorf("reading the secret from %s: %w", from, err)
	}
	if len(b) > limit {
		return "", fmt.Errorf("the secret in %s is longer than %d bytes: is it the right file?", from, limit)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("the secret in %s is empty: copy it from the provider's console", from)
	}
	return s, nil
}
