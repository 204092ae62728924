package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// git runs git in dir and returns its trimmed standard output.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// checkTree checks that HEAD carries the tag v{version} and that the work tree has no
// changes, as GoReleaser does before a release.
func checkTree(root, version string) error {
	tags, err := git(root, "tag", "--points-at", "HEAD")
	if err != nil {
		return err
	}
	if !slices.Contains(strings.Fields(tags), "v"+version) {
		return fmt.Errorf("HEAD is not tagged v%s: tag it (git tag v%s), or build a -snapshot", version, version)
	}
	status, err := git(root, "status", "--porcelain")
	if err != nil {
		return err
	}
	if status != "" {
		return fmt.Errorf("the work tree has changes: release from a clean checkout of v%s\n%s", version, status)
	}
	return nil
}

// sourceDate is the modification time of every archive entry: $SOURCE_DATE_EPOCH when set,
// else the commit time of HEAD (GoReleaser's mod_timestamp), else fixedDate.
func sourceDate(root string, log io.Writer) time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
		fmt.Fprintf(log, "release: ignoring SOURCE_DATE_EPOCH=%q: not a number of seconds\n", s)
	}
	out, err := git(root, "log", "-1", "--format=%ct")
	if n, perr := strconv.ParseInt(out, 10, 64); err == nil && perr == nil {
		return time.Unix(n, 0).UTC()
	}
	fmt.Fprintf(log, "release: no commit time from git (%v): archive entries dated %s\n", err, fixedDate.Format(time.DateOnly))
	return fixedDate
}
