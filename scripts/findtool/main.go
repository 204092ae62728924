// Command findtool prints where each named tool is found, by the one lookup order of
// internal/testenv.FindTool ($TAILOR_<TOOL>, <repo>/bin, PATH at a minimum version), so that
// scripts/tools.sh, scripts/gendocs.sh, the tests and the demo agree. It prints one line per
// tool, "name<TAB>path", with an empty path for a tool that is missing, and exits 1 when
// $TAILOR_<TOOL> names something that is not an executable.
//
//	go run ./scripts/findtool vault tofu hydra chromium node
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

func main() {
	status := 0
	for _, name := range os.Args[1:] {
		p, err := testenv.FindTool(name)
		if err != nil && !errors.Is(err, testenv.ErrToolMissing) {
			fmt.Fprintln(os.Stderr, err)
			status = 1
		}
		fmt.Printf("%s\t%s\n", name, p)
	}
	os.Exit(status)
}
