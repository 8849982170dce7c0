package config

import (
	"fmt"
	"os"
	"strconv"
)

// EnvServingCoalesce turns the reader service's request coalescing
// (serving.Options.Coalesce) on or off: true (the default) or false.
const EnvServingCoalesce = "SKEWFREE_SERVING_COALESCE"

// ServingCoalesceFromEnv reads SKEWFREE_SERVING_COALESCE (unset: true); a
// value that is not a boolean is an error naming the variable, returned
// with the default for a flag to override. getenv is os.Getenv when nil.
func ServingCoalesceFromEnv(getenv func(string) string) (bool, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	v := getenv(EnvServingCoalesce)
	if v == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return true, fmt.Errorf("%s=%q: want true or false", EnvServingCoalesce, v)
	}
	return b, nil
}
