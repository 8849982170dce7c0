package cli_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/store/parquet"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// TestSkewCheckMissingOnline: a key whose offline row is within the view's
// TTL at the check's time and is NOT_FOUND online is a mismatch (its push
// never happened); a key whose offline row is past its TTL is expected to
// be gone online.
func TestSkewCheckMissingOnline(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	reg := demo.Registry()
	v, _ := reg.View("user_orders")
	today := time.Now().UTC().Truncate(24 * time.Hour)
	keys := serving.StringKeys("u1", "u2", "u3", "u4")
	tests := []struct {
		name           string
		end            time.Time // the window end (and event_timestamp) of the offline rows
		pushed         int       // how many of keys were written online
		wantMismatches int       // feature values
		wantExpired    int
	}{
		{"all pushed", today, len(keys), 0, 0},
		{"push missing for two keys within TTL", today, 2, 2 * len(v.Features()), 0},
		{"nothing online, within TTL", today, 0, len(keys) * len(v.Features()), 0},
		{"past TTL: expired online as offline", today.Add(-v.TTL - 24*time.Hour), len(keys), 0, len(keys) * len(v.Features())},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			off, err := parquet.Open("file://" + filepath.Join(dir, "offline"))
			if err != nil {
				t.Fatal(err)
			}
			f := testenv.Frame(t, reg, "user_orders", keys, tc.end, tc.end, testenv.Sample(1))
			if _, err := off.WriteWindow(ctx, "user_orders", tc.end, tc.end, -1, f, reg.Fingerprint("user_orders")); err != nil {
				t.Fatal(err)
			}
			online, err := redisstore.New(c, reg, redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := online.Write(ctx, "user_orders", f.Take(seq(tc.pushed))); err != nil {
				t.Fatal(err)
			}
			t.Setenv("SKEWFREE_REDIS_URL", srv.URL())
			t.Setenv("SKEWFREE_OFFLINE", "file://"+filepath.Join(dir, "offline"))
			code, out, errs := run(t, "skew-check", "--view", "user_orders", "--sample", "0")
			summary := fmt.Sprintf(" %d mismatches, 0 values newer online, %d expired", tc.wantMismatches, tc.wantExpired)
			if !strings.Contains(out, summary) || (code == 0) != (tc.wantMismatches == 0) {
				t.Fatalf("exit %d, want summary %q:\n%s%s", code, summary, out, errs)
			}
			for i, k := range keys {
				named := strings.Contains(out, "MISMATCH user_id="+k.Str()+" ")
				if named && i < tc.pushed {
					t.Errorf("MISMATCH for %s, which was pushed:\n%s", k.Str(), out)
				}
			}
			if tc.wantMismatches > 0 && !strings.Contains(out, "NOT_FOUND online, but the offline row from") {
				t.Errorf("no MISMATCH line saying what is missing:\n%s", out)
			}
		})
	}
}
