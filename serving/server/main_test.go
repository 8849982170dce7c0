package main

import (
	"io"
	"strings"
	"testing"

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
