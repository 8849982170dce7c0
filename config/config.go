// Package config is Skewfree's one configuration: every main (worker,
// starter, dev and the reader service) reads its settings here, so a new
// setting is added once. It is pure (the standard library only), so the
// reader service links neither Temporal nor a cloud SDK by importing it.
package config

import (
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"time"
)

// Config locates everything. FromEnv fills it from the environment, mains
// then apply their flags; a zero field means the default of the local stack
// (WithDefaults fills them).
type Config struct {
	TemporalAddress string // TEMPORAL_ADDRESS, default 127.0.0.1:7233
	Namespace       string // TEMPORAL_NAMESPACE, default "default"
	RedisURL        string // SKEWFREE_REDIS_URL, default redis://127.0.0.1:6379; "none" disables the online store
	Offline         string // SKEWFREE_OFFLINE, default file://.state/offline
	Source          string // SKEWFREE_SOURCE, default file://.state/raw
	// BigQuery is the dataset ("project.dataset", SKEWFREE_BIGQUERY) that
	// materialization also appends each run's rows to, one table per view;
	// default none (Parquet only). See ValidateBigQuery.
	BigQuery string
	// BigQueryEndpoint (SKEWFREE_BIGQUERY_ENDPOINT, else
	// BIGQUERY_EMULATOR_HOST=host:port; see BigQueryEndpointFromEnv) points
	// the BigQuery client at an emulator (http://host:port), without
	// credentials; default: Google's API with Application Default
	// Credentials.
	BigQueryEndpoint string
	// Project names the deployment (SKEWFREE_PROJECT, default "skewfree"):
	// it qualifies schedule and workflow ids, the task queue and the Redis
	// key prefix, so several projects share a Temporal namespace and a Redis.
	// See ValidateProject for the names allowed.
	Project string
	// RedisPrefix overrides the online key prefix (SKEWFREE_REDIS_PREFIX).
	// Default: the project's, see OnlinePrefix. Every process of a project
	// must agree on it, which is why it is read here and nowhere else.
	RedisPrefix string
	// ServingAddr is the reader service's listen address
	// (SKEWFREE_SERVING_ADDR, default :6566, Feast's port).
	ServingAddr string
	// ServingGRPCAddr is the reader service's gRPC listen address
	// (SKEWFREE_SERVING_GRPC_ADDR, default 127.0.0.1:6567: loopback, and
	// the port after the HTTP API's); "none" turns gRPC off (see
	// GRPCDisabled).
	ServingGRPCAddr string
	// ServingToken is the bearer token the reader service requires
	// (SKEWFREE_SERVING_TOKEN, default none).
	ServingToken string
	// ActivityTimeout and HeartbeatTimeout (SKEWFREE_ACTIVITY_TIMEOUT,
	// SKEWFREE_HEARTBEAT_TIMEOUT, read by the starter) go into the workflows
	// this configuration starts; zero: the workflows' defaults (30m, 2m).
	ActivityTimeout  time.Duration
	HeartbeatTimeout time.Duration
	// WorkerMetricsAddr is where the worker serves Prometheus /metrics
	// (SKEWFREE_WORKER_METRICS_ADDR, default 127.0.0.1:9464; "none"
	// serves none).
	WorkerMetricsAddr string
	Logger            *slog.Logger // default slog.Default()
}

// Defaults of the local stack that `make dev` starts.
const (
	DefaultTemporalAddress = "127.0.0.1:7233"
	DefaultNamespace       = "default"
	DefaultRedisURL        = "redis://127.0.0.1:6379"
	DefaultOffline         = "file://.state/offline"
	DefaultSource          = "file://.state/raw"
	DefaultProject         = "skewfree"
	DefaultServingAddr     = ":6566"
	// DefaultWorkerMetricsAddr is the worker's /metrics address: loopback,
	// 9464 being the port Prometheus exporters of OpenTelemetry use.
	DefaultWorkerMetricsAddr = "127.0.0.1:9464"
	// DefaultServingGRPCAddr is not Feast's 6566: the HTTP API listens
	// there on every interface, so gRPC cannot bind it too.
	DefaultServingGRPCAddr = "127.0.0.1:6567"
	// DefaultRedisPrefix is the default project's online key prefix (the
	// prefix of every deployment before projects existed).
	DefaultRedisPrefix = "sf"
)

// Environment variables, by setting.
const (
	EnvTemporalAddress  = "TEMPORAL_ADDRESS"
	EnvNamespace        = "TEMPORAL_NAMESPACE"
	EnvRedisURL         = "SKEWFREE_REDIS_URL"
	EnvOffline          = "SKEWFREE_OFFLINE"
	EnvSource           = "SKEWFREE_SOURCE"
	EnvBigQuery         = "SKEWFREE_BIGQUERY"
	EnvBigQueryEndpoint = "SKEWFREE_BIGQUERY_ENDPOINT"
	EnvProject          = "SKEWFREE_PROJECT"
	EnvRedisPrefix      = "SKEWFREE_REDIS_PREFIX"
	EnvServingAddr      = "SKEWFREE_SERVING_ADDR"
	EnvServingToken     = "SKEWFREE_SERVING_TOKEN"
	EnvServingGRPCAddr  = "SKEWFREE_SERVING_GRPC_ADDR"
	EnvActivityTimeout  = "SKEWFREE_ACTIVITY_TIMEOUT"
	EnvHeartbeatTimeout = "SKEWFREE_HEARTBEAT_TIMEOUT"
	EnvWorkerMetrics    = "SKEWFREE_WORKER_METRICS_ADDR"
)

// FromEnv reads the documented environment variables; unset ones stay
// zero (the default). getenv is os.Getenv when nil.
func FromEnv(getenv func(string) string) Config {
	if getenv == nil {
		getenv = os.Getenv
	}
	return Config{
		TemporalAddress: getenv(EnvTemporalAddress),
		Namespace:       getenv(EnvNamespace),
		RedisURL:        getenv(EnvRedisURL),
		Offline:         getenv(EnvOffline),
		Source:          getenv(EnvSource),
		Project:         getenv(EnvProject),
		RedisPrefix:     getenv(EnvRedisPrefix),
		ServingAddr:     getenv(EnvServingAddr),
		ServingToken:    getenv(EnvServingToken),

		WorkerMetricsAddr: getenv(EnvWorkerMetrics),
		ServingGRPCAddr:   getenv(EnvServingGRPCAddr),
		BigQuery:          getenv(EnvBigQuery),
		BigQueryEndpoint:  BigQueryEndpointFromEnv(getenv),
	}
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	set := func(p *string, def string) {
		if *p == "" {
			*p = def
		}
	}
	set(&c.TemporalAddress, DefaultTemporalAddress)
	set(&c.Namespace, DefaultNamespace)
	set(&c.RedisURL, DefaultRedisURL)
	set(&c.Offline, DefaultOffline)
	set(&c.Source, DefaultSource)
	set(&c.Project, DefaultProject)
	set(&c.ServingAddr, DefaultServingAddr)
	set(&c.WorkerMetricsAddr, DefaultWorkerMetricsAddr)
	set(&c.ServingGRPCAddr, DefaultServingGRPCAddr)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports settings that cannot work: the project name and the
// BigQuery dataset's form.
func (c Config) Validate() error {
	if c.BigQuery != "" {
		if err := ValidateBigQuery(c.BigQuery); err != nil {
			return err
		}
	}
	if c.Project == "" {
		return nil // the default
	}
	return ValidateProject(c.Project)
}

// bigQueryRE: a project id (lowercase letters, digits, hyphens; an older
// one may carry a domain, "example.com:p"), a dot, a dataset id (letters,
// digits, underscores).
var bigQueryRE = regexp.MustCompile(`^([a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]\.[A-Za-z0-9_]+$`)

// ValidateBigQuery checks the form of a SKEWFREE_BIGQUERY value:
// "project.dataset". Whether the dataset exists is checked when the worker
// opens it.
func ValidateBigQuery(s string) error {
	if !bigQueryRE.MatchString(s) {
		return fmt.Errorf("%s=%q: want project.dataset (a Google Cloud project id, a dot, a dataset id of letters, digits and underscores)", EnvBigQuery, s)
	}
	return nil
}

// OnlinePrefix is the Redis key prefix of the configuration: RedisPrefix if
// set, else the project's (ProjectRedisPrefix).
func (c Config) OnlinePrefix() string {
	if c.RedisPrefix != "" {
		return c.RedisPrefix
	}
	return ProjectRedisPrefix(c.Project)
}

// maxProjectLen bounds project names: they prefix every id.
const maxProjectLen = 40

var projectRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// ValidateProject checks a project name: 1 to 40 characters, lowercase
// letters, digits, '-' and '_', starting with a letter. Names never hold
// '.', which separates the project from the names it qualifies, so the ids
// of two projects cannot collide.
func ValidateProject(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("project name is empty (unset %s for the default %q)", EnvProject, DefaultProject)
	case len(name) > maxProjectLen:
		return fmt.Errorf("project name %q is %d characters long, more than %d", name, len(name), maxProjectLen)
	case !projectRE.MatchString(name):
		return fmt.Errorf("project name %q is invalid: want lowercase letters, digits, '-' or '_', starting with a letter", name)
	}
	return nil
}

// IsDefaultProject reports whether project names the default project: ""
// or DefaultProject.
func IsDefaultProject(project string) bool { return project == "" || project == DefaultProject }

// Qualify returns name as project uses it: name itself for the default
// project (so deployments from before projects keep their ids, task queue
// and keys) and "<project>.<name>" for every other project.
func Qualify(project, name string) string {
	if IsDefaultProject(project) {
		return name
	}
	return project + "." + name
}

// ProjectRedisPrefix is a project's online key prefix: "sf" for the default
// project, "<project>.sf" for others.
func ProjectRedisPrefix(project string) string { return Qualify(project, DefaultRedisPrefix) }

// TimeoutsFromEnv reads SKEWFREE_ACTIVITY_TIMEOUT and
// SKEWFREE_HEARTBEAT_TIMEOUT (unset: zero, the workflows' defaults). Apart
// from FromEnv because a bad duration is an error naming the variable, and
// only the processes that start workflows use them. getenv is os.Getenv
// when nil.
func TimeoutsFromEnv(getenv func(string) string) (activity, heartbeat time.Duration, err error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	parse := func(name string) (time.Duration, error) {
		v := getenv(name)
		if v == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("%s=%q: want a positive duration such as 30s or 5m", name, v)
		}
		return d, nil
	}
	if activity, err = parse(EnvActivityTimeout); err != nil {
		return 0, 0, err
	}
	heartbeat, err = parse(EnvHeartbeatTimeout)
	return activity, heartbeat, err
}

// GRPCDisabled reports whether a gRPC listen address turns gRPC off: "" (a
// flag set empty) or "none".
func GRPCDisabled(addr string) bool { return addr == "" || addr == "none" }
