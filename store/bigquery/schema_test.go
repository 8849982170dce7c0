package bigquery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bqv2 "google.golang.org/api/bigquery/v2"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/store/bigquery"
)

// A new feature adds a NULLABLE column (earlier rows hold NULL there); a
// changed type or a renamed join key fails with an error naming table and
// column, and adds no rows.
func TestSchemaEvolution(t *testing.T) {
	bq := testenv.StartBigQuery(t, testProject, testDataset)
	ctx := context.Background()
	table := testProject + "." + testDataset + ".daily_user"
	v1 := registry(t, "user_id", feats[:2])
	if _, err := open(t, bq, v1).AppendVersion(ctx, "daily_user", day, micros, -1, bigquery.FramesOf(frame(t, v1, "daily_user", 4, day, micros, 1))); err != nil {
		t.Fatal(err)
	}

	// The emulator (v0.6.6) answers tables.patch but keeps the old schema
	// (its Table.Update drops the new metadata), so the column added is
	// checked on the request the real client sends, through a proxy.
	patches := recordPatches(t, bq)
	v2 := registry(t, "user_id", append(feats[:2:2], features.Feature{Name: "tier", Type: features.String}))
	next := day.Add(24 * time.Hour)
	if _, err := open(t, bq, v2).AppendVersion(ctx, "daily_user", next, micros.Add(24*time.Hour), -1, bigquery.FramesOf(frame(t, v2, "daily_user", 4, next, micros.Add(24*time.Hour), 2))); err != nil {
		t.Fatalf("new feature: %v", err)
	}
	if len(*patches) != 1 {
		t.Fatalf("%d table patches, want 1 adding the column", len(*patches))
	}
	var cols []string
	for _, f := range (*patches)[0].Schema.Fields {
		cols = append(cols, f.Name+" "+f.Type+" "+f.Mode)
	}
	want := []string{"user_id STRING REQUIRED", "event_timestamp TIMESTAMP REQUIRED", "created_timestamp TIMESTAMP REQUIRED",
		"orders INTEGER ", "spend FLOAT ", "tier STRING "}
	if !slices.Equal(cols, want) {
		t.Fatalf("patched schema %q, want the table's columns then a NULLABLE STRING tier: %q", cols, want)
	}
	if n := count(t, bq, "daily_user"); n != 8 {
		t.Fatalf("%d rows after the second run, want 8", n)
	}

	for _, tc := range []struct {
		name   string
		reg    *features.Registry
		column string
	}{
		{"type change", registry(t, "user_id", []features.Feature{feats[0], {Name: "spend", Type: features.String}, {Name: "tier", Type: features.String}}), "spend"},
		{"join key renamed", registry(t, "uid", feats[:2]), "uid"},
	} {
		then := next.Add(24 * time.Hour)
		_, err := open(t, bq, tc.reg).AppendVersion(ctx, "daily_user", then, micros, -1, bigquery.FramesOf(frame(t, tc.reg, "daily_user", 4, then, micros, 3)))
		if !errors.Is(err, bigquery.ErrSchema) || !errors.Is(err, features.ErrInput) {
			t.Fatalf("%s: %v, want ErrSchema (an input error)", tc.name, err)
		}
		if msg := err.Error(); !strings.Contains(msg, table) || !strings.Contains(msg, tc.column) {
			t.Errorf("%s: %q should name table %s and column %s", tc.name, msg, table, tc.column)
		}
		if n := count(t, bq, "daily_user"); n != 8 {
			t.Errorf("%s: %d rows after the refused run, want 8 (nothing written)", tc.name, n)
		}
	}
}

// A table partitioned otherwise than the view needs (an hourly view
// writing into a table made DAY-partitioned) is refused by name.
func TestPartitioningMismatch(t *testing.T) {
	bq := testenv.StartBigQuery(t, testProject, testDataset)
	ctx := context.Background()
	reg := registry(t, "user_id", feats)
	s := open(t, bq, reg)
	if _, err := s.AppendVersion(ctx, "daily_user", day, micros, -1, bigquery.FramesOf(frame(t, reg, "daily_user", 2, day, micros, 1))); err != nil {
		t.Fatal(err)
	}
	// The same table name for an hourly view: the "daily_user" view is
	// now hourly.
	r := features.NewRegistry()
	r.MustRegister(&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.String},
		&features.Source{Name: "events", Path: "events", TimestampField: "ts", Fields: []features.Field{{Name: "user_id", Type: features.String}}},
		&features.View{Name: "daily_user", Entity: "user", Source: "events", Cadence: features.Hourly, Owner: "t", Description: "d",
			Func: &features.FuncTransform{Version: "v1", Features: feats, Fn: func(features.FuncInput, []features.Value) error { return nil }}})
	end := day.Add(time.Hour)
	_, err := open(t, bq, r).AppendVersion(ctx, "daily_user", end, micros, -1, bigquery.FramesOf(frame(t, r, "daily_user", 2, end, micros, 1)))
	if !errors.Is(err, bigquery.ErrSchema) || !strings.Contains(err.Error(), "HOUR") || !strings.Contains(err.Error(), testDataset+".daily_user") {
		t.Fatalf("hourly view into a DAY-partitioned table: %v, want ErrSchema naming the table and HOUR", err)
	}
}

// Bad input: a missing dataset is reported when the store opens, naming
// it; a bad SKEWFREE_BIGQUERY form is reported by ParseDataset.
func TestMissingDataset(t *testing.T) {
	bq := testenv.StartBigQuery(t, testProject, testDataset)
	reg := registry(t, "user_id", feats)
	_, err := bigquery.Open(context.Background(), bq.Client, reg, bigquery.Dataset{Project: testProject, Dataset: "nope"}, bigquery.Options{})
	if !errors.Is(err, bigquery.ErrNotFound) || !strings.Contains(err.Error(), testProject+".nope") {
		t.Fatalf("missing dataset: %v, want ErrNotFound naming %s.nope", err, testProject)
	}
	for _, bad := range []string{"nodot", "Bad_Project.ds", "my-project.bad-dataset", "my-project."} {
		if _, err := bigquery.ParseDataset(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseDataset(%q) = %v, want an error naming it", bad, err)
		}
	}
}

// recordPatches points bq's client at a proxy of the emulator that records
// the tables.patch requests it forwards.
func recordPatches(t *testing.T, bq *testenv.BigQuery) *[]bqv2.Table {
	t.Helper()
	target, err := url.Parse(bq.URL)
	if err != nil {
		t.Fatal(err)
	}
	var got []bqv2.Table
	var mu sync.Mutex
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Error(err)
			}
			var tb bqv2.Table
			if err := json.Unmarshal(body, &tb); err != nil {
				t.Errorf("patch body: %v", err)
			}
			mu.Lock()
			got = append(got, tb)
			mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	bq.URL = srv.URL
	bq.Client = bq.NewClient(t)
	return &got
}
