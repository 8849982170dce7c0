// Command benchtable reads `go test -bench` output on stdin and prints the
// serving summary table (see internal/benchtable). `make bench` pipes its
// benchmarks through it.
package main

import (
	"fmt"
	"os"

	"github.com/skewfree/skewfree/internal/benchtable"
)

func main() {
	results, err := benchtable.Parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := benchtable.Build(results).Write(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
