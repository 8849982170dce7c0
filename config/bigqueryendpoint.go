package config

import (
	"os"
	"strings"
)

// EnvBigQueryEmulatorHost is the emulator variable of the goccy BigQuery
// emulator's convention (the Go client library does not read it):
// host:port, plain HTTP, no credentials.
const EnvBigQueryEmulatorHost = "BIGQUERY_EMULATOR_HOST"

// BigQueryEndpointFromEnv is the BigQuery endpoint every process (worker,
// starter, dev) uses, "" for Google's API with Application Default
// Credentials: SKEWFREE_BIGQUERY_ENDPOINT (a URL, http://host:port) when set,
// else BIGQUERY_EMULATOR_HOST (host:port, or a URL) as http://host:port.
// SKEWFREE_BIGQUERY_ENDPOINT wins when both are set. getenv is os.Getenv
// when nil. FromEnv fills Config.BigQueryEndpoint with it.
func BigQueryEndpointFromEnv(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := strings.TrimSpace(getenv(EnvBigQueryEndpoint)); v != "" {
		return v
	}
	host := strings.TrimSpace(getenv(EnvBigQueryEmulatorHost))
	if host == "" {
		return ""
	}
	if strings.Contains(host, "://") {
		return host
	}
	return "http://" + host
}
