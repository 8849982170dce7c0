package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/fakegcs"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/servedlog"
	"github.com/skewfree/skewfree/store/parquet/gcsfs"
)

// A served log on Cloud Storage (what the reader service writes with
// SKEWFREE_OFFLINE=gs://...) is read back by skew-check --served from the
// same gs:// offline store, with the answers of the local test.
func TestSkewCheckServedOnGCS(t *testing.T) {
	srv, err := fakegcs.Start("b")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	t.Setenv("STORAGE_EMULATOR_HOST", srv.Host())
	ctx := context.Background()
	f, err := gcsfs.Open(ctx, "gs://b/offline", gcsfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := servedlog.New(demo.Registry(), servedlog.InFS(f), servedlog.Options{Rate: 1})
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
	if st := l.Stats(); st.Written != 2 {
		t.Fatalf("written %d rows, want 2", st.Written)
	}
	code, out, errs := run(t, "skew-check", "--served", "--from", "2026-11-20T12:00:00Z", "--to", "2026-11-20T14:00:00Z",
		"--offline", "gs://b/offline", "--source", "gs://b/raw")
	if code != 1 || !strings.Contains(out, "1 files read, 2 rows checked") ||
		!strings.Contains(out, `MISSING user_id="ghost" user_orders:order_count_7d at 2026-11-20T13:00:00Z: served 5 (PRESENT`) ||
		!strings.Contains(out, "0 mismatches, 1 missing, 0 extra") || !strings.Contains(errs, "1 served values differ") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}
