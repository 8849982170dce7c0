package cli_test

import (
	"strings"
	"testing"
)

// A bad project name is refused before anything is contacted, with a
// message naming the setting; from the flag or the environment.
func TestBadProjectName(t *testing.T) {
	cases := []struct {
		name, env string
		args      []string
	}{
		{name: "flag", args: []string{"apply", "--project", "Team.A"}},
		{name: "environment", env: "team a", args: []string{"backfill", "--view", "user_orders", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z"}},
		{name: "flag on skew-check", args: []string{"skew-check", "--view", "user_orders", "--project", strings.Repeat("p", 41)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("SKEWFREE_PROJECT", c.env)
			// Nothing listens here: a dial would fail with another message.
			t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
			t.Setenv("SKEWFREE_REDIS_URL", "redis://127.0.0.1:1")
			code, _, errs := run(t, c.args...)
			if code == 0 || !strings.Contains(errs, "project name") || !strings.Contains(errs, "SKEWFREE_PROJECT") {
				t.Fatalf("code %d, stderr %q: want an error naming the project setting", code, errs)
			}
		})
	}
}
