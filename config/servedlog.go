package config

import (
	"fmt"
	"math"
	"os"
	"strconv"
)

// EnvServedLogRate is the fraction of entity keys whose served rows the
// reader service logs under the offline root (serving/servedlog), 0..1;
// default 0: off.
const EnvServedLogRate = "SKEWFREE_SERVED_LOG_RATE"

// ServedLogRateFromEnv reads SKEWFREE_SERVED_LOG_RATE (unset: 0). Apart
// from FromEnv because a bad rate is an error naming the variable, and only
// the reader service uses it. getenv is os.Getenv when nil.
func ServedLogRateFromEnv(getenv func(string) string) (float64, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	v := getenv(EnvServedLogRate)
	if v == "" {
		return 0, nil
	}
	r, err := ParseRate(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %w", EnvServedLogRate, v, err)
	}
	return r, nil
}

// ParseRate parses a sampling rate: a number in [0, 1].
func ParseRate(s string) (float64, error) {
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(r) || r < 0 || r > 1 {
		return 0, fmt.Errorf("want a number from 0 to 1, such as 0.01")
	}
	return r, nil
}
