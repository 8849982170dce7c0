package main

import (
	"io"
	"log/slog"
	"path/filepath"
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

// The served log's rate comes from SKEWFREE_SERVED_LOG_RATE or
// -served-log-rate (the flag wins), off by default, and a bad rate is
// refused naming where it came from; it writes under SKEWFREE_OFFLINE.
func TestServedLogSettings(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		want    float64
		wantErr string
	}{
		{name: "off by default", want: 0},
		{name: "from the environment", env: map[string]string{"SKEWFREE_SERVED_LOG_RATE": "0.01"}, want: 0.01},
		{name: "flag overrides", env: map[string]string{"SKEWFREE_SERVED_LOG_RATE": "0.01"}, args: []string{"-served-log-rate", "1"}, want: 1},
		{name: "bad environment", env: map[string]string{"SKEWFREE_SERVED_LOG_RATE": "5%"}, wantErr: `SKEWFREE_SERVED_LOG_RATE="5%"`},
		{name: "bad flag", args: []string{"-served-log-rate", "1.5"}, wantErr: "want a number from 0 to 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := parseSettings(c.args, func(k string) string { return c.env[k] }, io.Discard)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || s.servedRate != c.want {
				t.Fatalf("rate %v err %v, want %v", s.servedRate, err, c.want)
			}
		})
	}

	root := t.TempDir()
	s, err := parseSettings([]string{"-served-log-rate", "1"}, func(k string) string {
		return map[string]string{"SKEWFREE_OFFLINE": "file://" + root}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	reg := demo.Registry()
	l, err := servedLog(t.Context(), s, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	l.Served(at, serving.Entities{"user_id": serving.StringKeys("u1")}, &serving.Result{
		Features: []features.FeatureRef{{View: "user_orders", Feature: "order_count_7d"}}, JoinKeys: []string{"user_id"}, Rows: [][]serving.FeatureValue{{{}}}})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := servedlog.Files(t.Context(), filepath.Join(root, servedlog.Folder), time.Time{}, time.Time{})
	if err != nil || len(files) != 1 {
		t.Fatalf("files %v, err %v: want one under <offline>/_served", files, err)
	}
}

// With SKEWFREE_OFFLINE=gs://bucket/prefix the service logs to Cloud
// Storage (STORAGE_EMULATOR_HOST honored): the served rows land as one
// object under <prefix>/_served/date=.../ and read back. A missing bucket
// stops the start with an error naming it.
func TestServedLogOnCloudStorage(t *testing.T) {
	srv, err := fakegcs.Start("b")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	t.Setenv("STORAGE_EMULATOR_HOST", srv.Host())
	settingsFor := func(offline string) settings {
		s, err := parseSettings([]string{"-served-log-rate", "1"}, func(k string) string {
			return map[string]string{"SKEWFREE_OFFLINE": offline}[k]
		}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	reg := demo.Registry()
	l, err := servedLog(t.Context(), settingsFor("gs://b/offline"), reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("served log on gs://: %v", err)
	}
	at := time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC)
	l.Served(at, serving.Entities{"user_id": serving.StringKeys("u1", "u2")}, &serving.Result{
		Features: []features.FeatureRef{{View: "user_orders", Feature: "order_count_7d"}}, JoinKeys: []string{"user_id"},
		Rows: [][]serving.FeatureValue{{{Value: features.IntValue(3), Status: serving.Present, EventTime: at.Add(-time.Hour)}}, {{}}}})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := gcsfs.Open(t.Context(), "gs://b/offline", gcsfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files, err := servedlog.FilesFS(t.Context(), f, time.Time{}, time.Time{})
	if err != nil || len(files) != 1 || !strings.HasPrefix(files[0], "_served/date=2026-11-20/served-") {
		t.Fatalf("files %v, err %v: want one under gs://b/offline/_served/date=2026-11-20", files, err)
	}
	lg, err := servedlog.ReadFileFS(t.Context(), f, files[0])
	if err != nil || lg.Len() != 2 || lg.Values[0].Value(0).Int64() != 3 || lg.Status[0][0] != serving.Present {
		t.Fatalf("read back %+v, %v", lg, err)
	}
	if _, err := servedLog(t.Context(), settingsFor("gs://nope/offline"), reg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), `bucket "nope"`) {
		t.Fatalf("missing bucket: %v", err)
	}
}
