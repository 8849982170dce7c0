package config_test

import (
	"strings"
	"testing"

	"github.com/skewfree/skewfree/config"
)

func TestBigQueryFromEnv(t *testing.T) {
	cases := []struct {
		value   string
		wantErr bool
	}{
		{"", false}, // unset: Parquet only
		{"my-project.features", false},
		{"my-project-123.Feature_History_2", false},
		{"example.com:my-project.features", false},
		{"my-project", true},                // no dataset
		{"my-project.features.table", true}, // a table, not a dataset
		{"My-Project.features", true},       // uppercase project
		{"my-project.feat-ures", true},      // '-' in a dataset id
		{"abc.features", true},              // project id too short
		{".features", true},
		{"my-project.", true},
	}
	for _, c := range cases {
		env := map[string]string{config.EnvBigQuery: c.value}
		cfg := config.FromEnv(func(k string) string { return env[k] })
		if cfg.BigQuery != c.value {
			t.Fatalf("%q: FromEnv read BigQuery %q", c.value, cfg.BigQuery)
		}
		err := cfg.Validate()
		if c.wantErr != (err != nil) {
			t.Errorf("%q: Validate() = %v, want error %v", c.value, err, c.wantErr)
		}
		if err != nil && (!strings.Contains(err.Error(), config.EnvBigQuery) || !strings.Contains(err.Error(), "project.dataset")) {
			t.Errorf("%q: error %q should name %s and the expected form", c.value, err, config.EnvBigQuery)
		}
	}
}
