package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainingSetEngineFlags: the bigquery engine's flags are checked before
// any work, one clear line each.
func TestTrainingSetEngineFlags(t *testing.T) {
	t.Setenv("SKEWFREE_BIGQUERY", "")
	dir := t.TempDir()
	ents := filepath.Join(dir, "ents.csv")
	if err := os.WriteFile(ents, []byte("user_id,event_timestamp\nu1,2026-11-01T00:00:00Z\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.parquet")
	base := []string{"training-set", "--entities", ents, "--features", "user_orders:spend_30d"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", out, "--engine", "spark"}, `--engine "spark": want local or bigquery`},
		{[]string{"--out", out, "--out-table", "t"}, "--out-table, --dry-run and --bigquery need --engine bigquery"},
		{[]string{"--out", out, "--dry-run"}, "need --engine bigquery"},
		{[]string{"--engine", "bigquery"}, "give exactly one of --out and --out-table"},
		{[]string{"--engine", "bigquery", "--out", out, "--out-table", "t"}, "give exactly one of --out and --out-table"},
		{[]string{"--engine", "bigquery", "--out", out}, "--engine bigquery needs a dataset: set SKEWFREE_BIGQUERY=project.dataset or --bigquery"},
		{[]string{"--engine", "bigquery", "--out", out, "--bigquery", "nodot"}, `bigquery dataset "nodot": want project.dataset`},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, _, errs := run(t, append(base, c.args...)...)
			if code == 0 {
				t.Fatal("exit code 0")
			}
			if !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Fatalf("stderr %q, want one line containing %q", errs, c.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("a failed command wrote --out")
			}
		})
	}
}
