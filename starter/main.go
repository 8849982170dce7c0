// Command starter is Skewfree's command line over the demo repository.
package main

import (
	"os"

	"github.com/skewfree/skewfree/cli"
	"github.com/skewfree/skewfree/features/demo"
)

func main() { os.Exit(cli.Main(demo.Registry())) }
