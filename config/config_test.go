package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/config"
)

func TestValidateProject(t *testing.T) {
	cases := []struct {
		name    string
		wantErr string
	}{
		{"skewfree", ""},
		{"team-a", ""},
		{"fraud_v2", ""},
		{"a", ""},
		{strings.Repeat("p", 40), ""},
		{"", "empty"},
		{strings.Repeat("p", 41), "more than 40"},
		{"Team", "invalid"},
		{"team.a", "invalid"},
		{"team a", "invalid"},
		{"9lives", "invalid"},
		{"-x", "invalid"},
		{"a{b}", "invalid"},
		{"é", "invalid"},
	}
	for _, c := range cases {
		err := config.ValidateProject(c.name)
		if c.wantErr == "" {
			if err != nil {
				t.Errorf("%q: %v", c.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "project name") {
			t.Errorf("%q: error %v, want one naming the project and containing %q", c.name, err, c.wantErr)
		}
	}
}

func TestFromEnvAndDefaults(t *testing.T) {
	env := map[string]string{
		config.EnvProject: "team-b", config.EnvRedisURL: "redis://h:1", config.EnvServingToken: "tok",
	}
	c := config.FromEnv(func(k string) string { return env[k] }).WithDefaults()
	if c.Project != "team-b" || c.RedisURL != "redis://h:1" || c.ServingToken != "tok" {
		t.Fatalf("from env: %+v", c)
	}
	if c.TemporalAddress != config.DefaultTemporalAddress || c.Offline != config.DefaultOffline || c.ServingAddr != config.DefaultServingAddr || c.Logger == nil {
		t.Fatalf("defaults not filled: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := config.FromEnv(func(k string) string { return map[string]string{config.EnvProject: "Team B"}[k] })
	if err := bad.Validate(); err == nil {
		t.Fatal("an invalid SKEWFREE_PROJECT passed Validate")
	}
}

func TestProjectNames(t *testing.T) {
	cases := []struct {
		project, name, want, prefix string
	}{
		{"", "materialize-v", "materialize-v", "sf"},
		{"skewfree", "materialize-v", "materialize-v", "sf"},
		{"team-a", "materialize-v", "team-a.materialize-v", "team-a.sf"},
		{"sf", "skewfree", "sf.skewfree", "sf.sf"},
	}
	for _, c := range cases {
		if got := config.Qualify(c.project, c.name); got != c.want {
			t.Errorf("Qualify(%q, %q) = %q, want %q", c.project, c.name, got, c.want)
		}
		if got := (config.Config{Project: c.project}).OnlinePrefix(); got != c.prefix {
			t.Errorf("project %q: online prefix %q, want %q", c.project, got, c.prefix)
		}
	}
	if got := (config.Config{Project: "team-a", RedisPrefix: "x"}).OnlinePrefix(); got != "x" {
		t.Errorf("explicit prefix ignored: %q", got)
	}
}

func TestTimeoutsFromEnv(t *testing.T) {
	for _, c := range []struct {
		name          string
		env           map[string]string
		act, hb       time.Duration
		wantErrNaming string
	}{
		{"unset: defaults", nil, 0, 0, ""},
		{"both", map[string]string{"SKEWFREE_ACTIVITY_TIMEOUT": "60s", "SKEWFREE_HEARTBEAT_TIMEOUT": "10s"}, time.Minute, 10 * time.Second, ""},
		{"not a duration", map[string]string{"SKEWFREE_HEARTBEAT_TIMEOUT": "ten"}, 0, 0, "SKEWFREE_HEARTBEAT_TIMEOUT"},
		{"not positive", map[string]string{"SKEWFREE_ACTIVITY_TIMEOUT": "-1s"}, 0, 0, "SKEWFREE_ACTIVITY_TIMEOUT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			act, hb, err := config.TimeoutsFromEnv(func(k string) string { return c.env[k] })
			if c.wantErrNaming != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErrNaming) {
					t.Fatalf("error %v, want one naming %s", err, c.wantErrNaming)
				}
				return
			}
			if err != nil || act != c.act || hb != c.hb {
				t.Fatalf("got %s %s %v, want %s %s", act, hb, err, c.act, c.hb)
			}
		})
	}
}

// The worker's metrics address: the default, the environment, "none".
func TestWorkerMetricsAddr(t *testing.T) {
	for env, want := range map[string]string{"": config.DefaultWorkerMetricsAddr, "0.0.0.0:9999": "0.0.0.0:9999", "none": "none"} {
		c := config.FromEnv(func(k string) string { return map[string]string{config.EnvWorkerMetrics: env}[k] }).WithDefaults()
		if c.WorkerMetricsAddr != want {
			t.Errorf("%s=%q: address %q, want %q", config.EnvWorkerMetrics, env, c.WorkerMetricsAddr, want)
		}
	}
	if config.DefaultWorkerMetricsAddr != "127.0.0.1:9464" {
		t.Errorf("default %q", config.DefaultWorkerMetricsAddr)
	}
}
