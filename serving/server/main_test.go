package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/config"
)

// The reader service reads the same configuration as worker and starter:
// the project decides the key prefix it reads, flags override the
// environment, and a bad project name is refused.
func TestSettingsShareTheConfiguration(t *testing.T) {
	cases := []struct {
		name       string
		env        map[string]string
		args       []string
		wantPrefix string
		wantRedis  string
		wantAddr   string
		wantErr    string
	}{
		{name: "defaults", wantPrefix: "sf", wantRedis: config.DefaultRedisURL, wantAddr: ":6566"},
		{name: "project from the environment", env: map[string]string{"SKEWFREE_PROJECT": "team-b", "SKEWFREE_SERVING_TOKEN": "t"},
			wantPrefix: "team-b.sf", wantRedis: config.DefaultRedisURL, wantAddr: ":6566"},
		{name: "flags override", env: map[string]string{"SKEWFREE_PROJECT": "team-b", "SKEWFREE_REDIS_URL": "redis://h:1"},
			args: []string{"-project", "team-c", "-addr", "127.0.0.1:0"}, wantPrefix: "team-c.sf", wantRedis: "redis://h:1", wantAddr: "127.0.0.1:0"},
		{name: "explicit prefix", env: map[string]string{"SKEWFREE_PROJECT": "team-b", "SKEWFREE_REDIS_PREFIX": "x"},
			wantPrefix: "x", wantRedis: config.DefaultRedisURL, wantAddr: ":6566"},
		{name: "bad project", env: map[string]string{"SKEWFREE_PROJECT": "Team B"}, wantErr: `project name "Team B" is invalid`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := parseSettings(c.args, func(k string) string { return c.env[k] }, io.Discard)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.cfg.OnlinePrefix() != c.wantPrefix || s.cfg.RedisURL != c.wantRedis || s.cfg.ServingAddr != c.wantAddr {
				t.Fatalf("prefix %q redis %q addr %q; want %q %q %q", s.cfg.OnlinePrefix(), s.cfg.RedisURL, s.cfg.ServingAddr, c.wantPrefix, c.wantRedis, c.wantAddr)
			}
			if c.env["SKEWFREE_SERVING_TOKEN"] != s.cfg.ServingToken {
				t.Fatalf("token %q", s.cfg.ServingToken)
			}
		})
	}
}

// The -redis flag's default comes from the environment: -h and flag errors
// show it, and must not show its password.
func TestUsageHidesRedisPassword(t *testing.T) {
	env := map[string]string{"SKEWFREE_REDIS_URL": "redis://user:hunter2secret@h:6379/0?password=tok3nsecret"}
	for _, args := range [][]string{{"-h"}, {"-no-such-flag"}, {"-cache-entries", "x"}} {
		var out strings.Builder
		_, err := parseSettings(args, func(k string) string { return env[k] }, &out)
		if err == nil {
			t.Fatalf("%v: no error", args)
		}
		msg := out.String() + err.Error()
		if strings.Contains(msg, "hunter2secret") || strings.Contains(msg, "tok3nsecret") {
			t.Errorf("%v: output shows the password:\n%s", args, msg)
		}
		if args[0] == "-h" && !strings.Contains(msg, "redis://user:xxxxx@h:6379/0") {
			t.Errorf("-h: redacted default missing:\n%s", msg)
		}
	}
	s, err := parseSettings(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || s.cfg.RedisURL != env["SKEWFREE_REDIS_URL"] {
		t.Fatalf("RedisURL %q, err %v: the real URL must still be used", s.cfg.RedisURL, err)
	}
	s, err = parseSettings([]string{"-redis", "redis://:pw@other:1"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil || s.cfg.RedisURL != "redis://:pw@other:1" {
		t.Fatalf("RedisURL %q, err %v: the flag must override", s.cfg.RedisURL, err)
	}
}

// Which registry the service serves, and how often it looks for a new
// published catalog: the published one every 5s by default, from the
// environment, flags overriding it; bad values are refused by name.
func TestCatalogSettings(t *testing.T) {
	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		wantReg  string
		wantPoll time.Duration
		wantErr  string
	}{
		{name: "defaults", wantReg: "published", wantPoll: 5 * time.Second},
		{name: "environment", env: map[string]string{"SKEWFREE_SERVING_REGISTRY": "demo", "SKEWFREE_CATALOG_POLL": "1s"}, wantReg: "demo", wantPoll: time.Second},
		{name: "flags override", env: map[string]string{"SKEWFREE_SERVING_REGISTRY": "demo", "SKEWFREE_CATALOG_POLL": "1s"},
			args: []string{"-registry", "published", "-catalog-poll", "250ms"}, wantReg: "published", wantPoll: 250 * time.Millisecond},
		{name: "bad poll variable", env: map[string]string{"SKEWFREE_CATALOG_POLL": "often"}, wantErr: `SKEWFREE_CATALOG_POLL="often": want a positive duration`},
		{name: "bad poll variable overridden", env: map[string]string{"SKEWFREE_CATALOG_POLL": "often"}, args: []string{"-catalog-poll", "2s"}, wantReg: "published", wantPoll: 2 * time.Second},
		{name: "zero poll flag", args: []string{"-catalog-poll", "0s"}, wantErr: "catalog poll interval 0s"},
		{name: "unknown registry", env: map[string]string{"SKEWFREE_SERVING_REGISTRY": "mine"}, wantErr: `serving registry "mine" unknown (want published or demo)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := parseSettings(c.args, func(k string) string { return c.env[k] }, io.Discard)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || s.catalog.Registry != c.wantReg || s.catalog.Poll != c.wantPoll {
				t.Fatalf("registry %q poll %s err %v; want %q %s", s.catalog.Registry, s.catalog.Poll, err, c.wantReg, c.wantPoll)
			}
		})
	}
}
