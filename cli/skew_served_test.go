package cli_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/servedlog"
)

// TestSkewCheckServedCommand: the command checks the served log in the
// offline root for its time range, prints a table of rates with examples,
// and exits 1 on a disagreement; a served NOT_FOUND with nothing offline
// agrees. Bad flag combinations are refused.
func TestSkewCheckServedCommand(t *testing.T) {
	root := filepath.Join(t.TempDir(), "offline")
	l, err := servedlog.New(demo.Registry(), servedlog.OfflineDir(root), servedlog.Options{Rate: 1})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC)
	refs := []features.FeatureRef{{View: "user_orders", Feature: "order_count_7d"}}
	l.Served(at, serving.Entities{"user_id": serving.StringKeys("nobody", "ghost")}, &serving.Result{Features: refs, JoinKeys: []string{"user_id"},
		Rows: [][]serving.FeatureValue{{{}}, {{Value: features.IntValue(5), Status: serving.Present, EventTime: at.Add(-13 * time.Hour)}}}})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	off := "file://" + root
	code, out, errs := run(t, "skew-check", "--served", "--from", "2026-11-20T12:00:00Z", "--to", "2026-11-20T14:00:00Z", "--offline", off)
	if code != 1 || !strings.Contains(out, "user_orders:order_count_7d  2     0 (0.00%)  1 (50.00%)  0 (0.00%)") ||
		!strings.Contains(out, `MISSING user_id="ghost" user_orders:order_count_7d at 2026-11-20T13:00:00Z: served 5 (PRESENT`) ||
		!strings.Contains(out, "0 mismatches, 1 missing, 0 extra") || !strings.Contains(errs, "1 served values differ") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	// Another range holds no rows: nothing to disagree with.
	code, out, errs = run(t, "skew-check", "--served", "--from", "2026-11-21T00:00:00Z", "--to", "2026-11-22T00:00:00Z", "--offline", off)
	if code != 0 || !strings.Contains(out, " 0 rows checked") || !strings.Contains(out, "no served rows in the range") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, args := range [][]string{
		{"skew-check", "--served"},
		{"skew-check", "--served", "--from", "2026-11-20T12:00:00Z"},
		{"skew-check", "--served", "--view", "user_orders", "--from", "2026-11-20T12:00:00Z", "--to", "2026-11-20T14:00:00Z"},
		{"skew-check", "--served", "--from", "2026-11-20T14:00:00Z", "--to", "2026-11-20T12:00:00Z"},
		{"skew-check"},
	} {
		if code, _, errs := run(t, args...); code == 0 || errs == "" {
			t.Errorf("%v: exit %d, no error", args, code)
		}
	}
}
