package config_test

import (
	"testing"

	"github.com/skewfree/skewfree/config"
)

// Every process reads the BigQuery emulator from the same two variables:
// SKEWFREE_BIGQUERY_ENDPOINT (a URL) wins, else BIGQUERY_EMULATOR_HOST
// (host:port, as Google's clients use it). FromEnv, which the worker, the
// starter and dev read, gives the same.
func TestBigQueryEndpointFromEnv(t *testing.T) {
	cases := []struct {
		name           string
		endpoint, host string
		want           string
	}{
		{name: "neither: Google's API", want: ""},
		{name: "endpoint", endpoint: "http://127.0.0.1:9050", want: "http://127.0.0.1:9050"},
		{name: "emulator host", host: "127.0.0.1:9050", want: "http://127.0.0.1:9050"},
		{name: "emulator host as a URL", host: "http://localhost:9050", want: "http://localhost:9050"},
		{name: "endpoint wins", endpoint: "http://127.0.0.1:1111", host: "127.0.0.1:2222", want: "http://127.0.0.1:1111"},
		{name: "blank endpoint ignored", endpoint: "  ", host: "127.0.0.1:2222", want: "http://127.0.0.1:2222"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{config.EnvBigQueryEndpoint: c.endpoint, config.EnvBigQueryEmulatorHost: c.host}
			getenv := func(k string) string { return env[k] }
			if got := config.BigQueryEndpointFromEnv(getenv); got != c.want {
				t.Errorf("BigQueryEndpointFromEnv = %q, want %q", got, c.want)
			}
			if got := config.FromEnv(getenv).BigQueryEndpoint; got != c.want {
				t.Errorf("FromEnv().BigQueryEndpoint = %q, want %q", got, c.want)
			}
		})
	}
}
