package sample_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/cli"
	"github.com/skewfree/skewfree/dev/sample"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/pipeline"
	"github.com/skewfree/skewfree/store/parquet"
)

// TestPrintedTrainingSetCommandWorks builds the state `make dev` leaves
// (raw data, the views of the fraud_model service materialized over the last
// days, the sample entity table) and runs the training-set command exactly as
// dev prints it: it succeeds, keeps every sample row, and finds features for
// most of them. The Parquet copy of the table gives the same training set.
func TestPrintedTrainingSetCommandWorks(t *testing.T) {
	ctx := context.Background()
	state := filepath.Join(t.TempDir(), "state")
	reg := demo.Registry()
	const users, days = 120, 5
	today := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	start := today.Add(-days * 24 * time.Hour)
	frames, err := demo.Generate(demo.GenOptions{Users: users, Products: 30, Days: days + 1, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	src, err := parquet.OpenSources("file://" + filepath.Join(state, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"orders", "page_views"} {
		s, _ := reg.Source(name)
		if _, err := src.Write(ctx, s, frames[name]); err != nil {
			t.Fatal(err)
		}
	}
	off, err := parquet.Open("file://" + filepath.Join(state, "offline"))
	if err != nil {
		t.Fatal(err)
	}
	now := today.Add(15 * time.Hour)
	for _, view := range []string{"user_orders", "user_activity"} {
		v, _ := reg.View(view)
		to := now.Add(-v.Lateness).Truncate(v.Cadence.Duration())
		for _, end := range features.WindowEnds(v, start, to) {
			if _, err := pipeline.MaterializeOffline(ctx, reg, src, off, view, end, end.Add(v.Lateness)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// What dev does: sample rows from the second day until a few hours ago.
	pq, csvPath, err := sample.WriteEntities(state, users, start.Add(24*time.Hour), now.Add(-3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}

	cmdline := sample.TrainingSetCommand(state)
	args, ok := strings.CutPrefix(cmdline, "go run ./starter ")
	if !ok {
		t.Fatalf("printed command %q does not run the starter", cmdline)
	}
	var stdout, stderr bytes.Buffer
	if code := cli.Run(ctx, reg, strings.Fields(args), &stdout, &stderr); code != 0 {
		t.Fatalf("%s: exit %d: %s", cmdline, code, stderr.String())
	}
	fromCSV := readAll(t, filepath.Join(state, sample.TrainingSet))
	if n := fromCSV["user_id"].Len(); n != sample.Rows {
		t.Fatalf("training set has %d rows, want %d", n, sample.Rows)
	}
	svc, _ := reg.Service(sample.Service)
	for _, ref := range svc.Features {
		col := strings.Replace(ref, ":", "__", 1)
		c := fromCSV[col]
		if c == nil {
			t.Fatalf("no column %s", col)
		}
		present := 0
		for _, ok := range c.Valid {
			if ok {
				present++
			}
		}
		if present < sample.Rows/4 {
			t.Errorf("%s: only %d of %d rows have a value", col, present, sample.Rows)
		}
	}

	// The Parquet copy joins to the same training set.
	pqOut := filepath.Join(t.TempDir(), "train.parquet")
	if code := cli.Run(ctx, reg, []string{"training-set", "--entities", pq, "--service", sample.Service, "--out", pqOut,
		"--offline", "file://" + filepath.Join(state, "offline")}, &stdout, &stderr); code != 0 {
		t.Fatalf("parquet entities: %s", stderr.String())
	}
	fromPQ := readAll(t, pqOut)
	for name, a := range fromPQ {
		b := fromCSV[name]
		if b == nil || b.Len() != a.Len() {
			t.Fatalf("column %s differs in shape", name)
		}
		for i := range a.Len() {
			if !a.Value(i).Equal(b.Value(i)) {
				t.Fatalf("column %s row %d: csv %s, parquet %s", name, i, b.Value(i), a.Value(i))
			}
		}
	}
	if _, err := os.Stat(csvPath); err != nil {
		t.Fatal(err)
	}
}

// readAll reads every column but event_timestamp, by name.
func readAll(t *testing.T, path string) map[string]*features.Column {
	t.Helper()
	f, err := parquet.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*features.Column{}
	for _, name := range f.Columns() {
		typ, ok := f.TypeOf(name)
		if !ok {
			continue
		}
		for _, rg := range f.RowGroups() {
			if out[name], err = f.ReadColumn(rg, name, typ, out[name]); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// TestReadmeRunsTheSampleCommand: the README's training-set example is the
// one `make dev` prints for its default state folder, so it runs as written.
func TestReadmeRunsTheSampleCommand(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := sample.TrainingSetCommand(".state")
	if !strings.Contains(string(readme), want) {
		t.Fatalf("README.md lacks the command make dev prints:\n%s", want)
	}
}
