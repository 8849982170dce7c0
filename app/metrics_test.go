package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/store/parquet"
)

// The worker serves /metrics with the run metrics, the staleness gauge read
// back from run records at start; "none" serves nothing.
func TestWorkerMetricsEndpoint(t *testing.T) {
	ctx := context.Background()
	reg := demo.Registry()
	off, err := parquet.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	pub := end.Add(10 * time.Minute)
	if err := off.WriteRunRecord(ctx, features.RunRecord{View: "user_activity", WindowEnd: end, Created: end.Add(time.Minute), Shard: -1,
		Status: features.RunOK, Published: &pub}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	wm, err := app.StartWorkerMetrics(ctx, reg, off, "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	defer wm.Close()
	if wm.Metrics == nil || wm.Addr == "" {
		t.Fatalf("metrics %+v", wm)
	}
	var body string
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err := http.Get("http://" + wm.Addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		// The first refresh runs in the background: wait for it.
		if strings.Contains(body, `skewfree_view_staleness_seconds{view="user_activity"}`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{`skewfree_rows_written_total{view="user_orders"} 0`, `skewfree_view_staleness_seconds{view="user_activity"} 1`,
		`skewfree_view_stale{view="user_activity"} 1`, `skewfree_view_stale{view="user_orders"} 1`, "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if err := wm.Close(); err != nil {
		t.Fatal(err)
	}

	none, err := app.StartWorkerMetrics(ctx, reg, off, "none", log)
	if err != nil || none.Metrics != nil || none.Addr != "" {
		t.Fatalf("\"none\": %+v, %v", none, err)
	}
	if err := none.Close(); err != nil {
		t.Fatal(err)
	}
}
