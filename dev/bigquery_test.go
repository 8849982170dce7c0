package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/cli"
	"github.com/skewfree/skewfree/dev/sample"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/pipeline"
	bqstore "github.com/skewfree/skewfree/store/bigquery"
	"github.com/skewfree/skewfree/store/parquet"
)

// The wiring of `dev -cloud`'s BigQuery history: the emulator starts with
// the dev dataset, the stores dev hands the worker (withBigQuery) append a
// run's rows to it, and the banner's `training-set --engine bigquery`
// command, run as printed (its environment, then the starter's
// arguments), reads them back.
func TestCloudDevBigQuery(t *testing.T) {
	bin := testenv.BigQueryEmulatorPath()
	if _, err := os.Stat(bin); err != nil {
		testenv.Missing(t, "bigquery-emulator ("+bin+"; scripts/bigquery-emulator.sh builds it)")
	}
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	state := t.TempDir()
	bq, err := startBigQuery(ctx, bin, filepath.Join(state, "bigquery"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer bq.Stop()
	reg := demo.Registry()
	cfg := withBigQuery(app.Config{Offline: "file://" + filepath.Join(state, "offline"), Source: "file://" + filepath.Join(state, "raw"),
		RedisURL: "none", Logger: log}, bq).WithDefaults()
	stores, err := app.OpenStores(ctx, reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer stores.Close()
	if stores.History == nil {
		t.Fatal("withBigQuery: the stores have no BigQuery history")
	}

	// One run of each view of the banner's service, as the worker's
	// activity appends it.
	day := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	frames, err := demo.Generate(demo.GenOptions{Users: 20, Products: 10, Days: 3, Start: day.Add(-2 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"orders", "page_views"} {
		src, _ := reg.Source(name)
		if _, err := stores.Sources.Write(ctx, src, frames[name]); err != nil {
			t.Fatal(err)
		}
	}
	for _, run := range []struct {
		view string
		end  time.Time
	}{{"user_orders", day}, {"user_activity", day.Add(3 * time.Hour)}} {
		created := run.end.Add(3 * time.Hour)
		fr, err := pipeline.ComputeWindow(ctx, reg, stores.Sources, run.view, run.end, created)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := stores.History.AppendVersion(ctx, run.view, run.end, created, int64(fr.Len()), bqstore.FramesOf(fr)); err != nil || n == 0 {
			t.Fatalf("append %s: %d rows, %v", run.view, n, err)
		}
	}

	// The banner's command, with labels after the window is available
	// (E + 2h lateness) and within its TTL (2 days).
	if _, _, err := sample.WriteEntities(state, 20, day.Add(3*time.Hour), day.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := writeBigQueryLabels(state); err != nil {
		t.Fatal(err)
	}
	command := bigQueryTrainingSetCommand(state, bq)
	words := strings.Fields(command)
	i := 0
	for ; i < len(words) && strings.Contains(words[i], "="); i++ {
		k, v, _ := strings.Cut(words[i], "=")
		t.Setenv(k, v)
	}
	if strings.Join(words[i:i+3], " ") != "go run ./starter" {
		t.Fatalf("command %q does not run the starter after its environment", command)
	}
	var stdout, stderr bytes.Buffer
	if code := cli.Run(ctx, reg, words[i+3:], &stdout, &stderr); code != 0 {
		t.Fatalf("%s: exit %d: %s", command, code, stderr.String())
	}
	f, err := parquet.OpenFile(filepath.Join(state, bqTrainingSet))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.NumRows() != bqLabelsRows {
		t.Fatalf("%d rows, want %d", f.NumRows(), bqLabelsRows)
	}
	var col *features.Column
	for _, rg := range f.RowGroups() {
		if col, err = f.ReadColumn(rg, "user_orders__order_count_7d", features.Int64, col); err != nil {
			t.Fatal(err)
		}
	}
	present := 0
	for i := range col.Len() {
		if !col.Value(i).IsNull() {
			present++
		}
	}
	if present == 0 {
		t.Fatal("no user_orders value read back from BigQuery")
	}
	t.Logf("%s\n%d of %d rows have user_orders values; %s", command, present, col.Len(), strings.TrimSpace(stderr.String()))
}

// Without the emulator binary, dev -cloud stops with how to get it: it
// never runs without BigQuery silently.
func TestCloudDevWithoutEmulator(t *testing.T) {
	for _, bin := range []string{"", filepath.Join(t.TempDir(), "bigquery-emulator")} {
		_, err := startBigQuery(context.Background(), bin, t.TempDir(), slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "make dev CLOUD=1") || !strings.Contains(err.Error(), "15-30 minutes") ||
			!strings.Contains(err.Error(), "scripts/bigquery-emulator.sh") {
			t.Errorf("emulator %q: %v", bin, err)
		}
	}
}

// The banner shows the BigQuery history and its training-set command with
// dev -cloud, and neither without.
func TestBannerShowsBigQuery(t *testing.T) {
	info := bannerInfo{UI: "http://127.0.0.1:8233", Namespace: "default", Temporal: "127.0.0.1:7233", TaskQueue: "skewfree",
		Serving: "127.0.0.1:6566", RedisURL: "redis://127.0.0.1:1", Offline: "gs://skewfree-dev/offline", Users: []string{"u1", "u2"},
		BigQuery: "skewfree-dev.history", BigQueryEndpoint: "http://127.0.0.1:9050",
		BigQueryTrainingSet: bigQueryTrainingSetCommand(".state", &bigQueryEmulator{URL: "http://127.0.0.1:9050"}), BigQueryLabels: ".state/" + bqLabels}
	text := banner(info)
	for _, want := range []string{"BigQuery history skewfree-dev.history on the emulator at http://127.0.0.1:9050",
		"SKEWFREE_BIGQUERY=skewfree-dev.history SKEWFREE_BIGQUERY_ENDPOINT=http://127.0.0.1:9050 go run ./starter training-set --engine bigquery --entities .state/labels-bigquery.csv"} {
		if !strings.Contains(text, want) {
			t.Errorf("banner lacks %q:\n%s", want, text)
		}
	}
	info.BigQuery, info.BigQueryTrainingSet = "", ""
	if text := banner(info); strings.Contains(text, "BigQuery") {
		t.Errorf("banner without BigQuery mentions it:\n%s", text)
	}
}
