package cli_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/cli"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/store/parquet"
)

// A window with two versions (a run and its correction): online holds the
// correction, and skew-check compares with the newest version per key, not
// with every version's rows.
func TestSkewCheckComparesNewestVersion(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t)
	dir := t.TempDir()
	raw, off := "file://"+filepath.Join(dir, "raw"), "file://"+filepath.Join(dir, "offline")
	// Redis expires keys by its own clock: the window must be within TTL now.
	end := time.Now().UTC().Truncate(24 * time.Hour)
	if code, _, errs := run(t, "generate", "--out", raw, "--users", "100", "--products", "20", "--days", "3",
		"--start", end.Add(-3*24*time.Hour).Format(time.DateOnly)); code != 0 {
		t.Fatalf("generate: %s", errs)
	}
	if code, _, errs := run(t, "materialize", "--local", "--view", "user_orders", "--source", raw, "--offline", off,
		"--window-end", end.Format(time.RFC3339)); code != 0 {
		t.Fatalf("materialize: %s", errs)
	}
	t.Setenv("SKEWFREE_REDIS_URL", srv.URL())
	t.Setenv("SKEWFREE_OFFLINE", off)
	reg := demo.Registry()
	stores, err := app.OpenStores(ctx, reg, cli.ConfigFromEnv(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer stores.Close()
	vs, err := stores.Offline.WindowVersions(ctx, "user_orders", end)
	if err != nil || len(vs) != 1 {
		t.Fatalf("versions %+v %v", vs, err)
	}
	v, _ := reg.View("user_orders")
	spec := parquet.HistorySpec(reg.EntityOf(v), v.Features())
	first, err := parquet.ReadFile(filepath.Join(stores.Offline.Root(), vs[0].Files[0]), spec)
	if err != nil {
		t.Fatal(err)
	}
	// The correction changes every value of the first feature.
	created := vs[0].Created.Add(time.Hour)
	fix := first.Take(seq(first.Len()))
	for i := range fix.Created {
		fix.Created[i] = features.Micros(created)
		fix.Columns[0].Ints[i] += 1000
		fix.Columns[0].Valid[i] = true
	}
	if _, err := stores.Offline.WriteWindow(ctx, "user_orders", end, created, -1, fix, reg.Fingerprint("user_orders")); err != nil {
		t.Fatal(err)
	}
	for _, fr := range []*features.Frame{first, fix} {
		if _, err := stores.Online.Write(ctx, "user_orders", fr); err != nil {
			t.Fatal(err)
		}
	}
	var out, errOut strings.Builder
	if code := cli.Run(ctx, reg, []string{"skew-check", "--view", "user_orders", "--sample", "0"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), " 0 mismatches") {
		t.Fatalf("skew-check after a correction: code %d\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "user_orders window "+parquet.WindowStamp(end)) {
		t.Fatalf("checked another window: %s", out.String())
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
