package bqjoin_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	gbigquery "cloud.google.com/go/bigquery"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/pitcases"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/trainingset/bqjoin"
)

const (
	project = "skewfree-test"
	dataset = "history"
)

// caseRegistry has one view per case, c0, c1, ..., keyed by a string
// user_id, with one int64 feature v. TTLs and lateness are set by the
// caller after registration (some cases use values the registry's TTL
// floor would refuse, to hit the edges).
func caseRegistry(t *testing.T, n int) *features.Registry {
	t.Helper()
	r := features.NewRegistry()
	defs := []any{
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.String},
		&features.Source{Name: "ev", Path: "ev", TimestampField: "ts", Fields: []features.Field{{Name: "user_id", Type: features.String}}},
	}
	for i := range n {
		defs = append(defs, &features.View{Name: fmt.Sprintf("c%d", i), Entity: "user", Source: "ev", Cadence: features.Hourly,
			Owner: "o", Description: "d", Aggregations: []features.Aggregation{{Name: "v", Kind: features.Count, Window: time.Hour}}})
	}
	if err := r.Register(defs...); err != nil {
		t.Fatal(err)
	}
	return r
}

func historySchema() gbigquery.Schema {
	return gbigquery.Schema{
		{Name: "user_id", Type: gbigquery.StringFieldType},
		{Name: bqjoin.EventTimestamp, Type: gbigquery.TimestampFieldType, Required: true},
		{Name: bqjoin.CreatedTimestamp, Type: gbigquery.TimestampFieldType},
		{Name: "v", Type: gbigquery.IntegerFieldType},
	}
}

func publishedSchema() gbigquery.Schema {
	return gbigquery.Schema{
		{Name: "view", Type: gbigquery.StringFieldType, Required: true},
		{Name: "window_end", Type: gbigquery.TimestampFieldType, Required: true},
		{Name: "created", Type: gbigquery.TimestampFieldType, Required: true},
		{Name: "published", Type: gbigquery.TimestampFieldType, Required: true},
	}
}

func ts(us int64) time.Time { return features.FromMicros(us) }

// loadCase writes a case's history to table view and its publication
// times to _published: a chunk published at P gives its versions P; a
// chunk known at created_timestamp gives each version its created time (a
// null created: no row, never known); a chunk never published, no row.
func loadCase(ctx context.Context, t *testing.T, ds *gbigquery.Dataset, view string, c pitcases.Case) {
	t.Helper()
	tbl := ds.Table(view)
	if err := tbl.Create(ctx, &gbigquery.TableMetadata{Schema: historySchema(),
		TimePartitioning: &gbigquery.TimePartitioning{Field: bqjoin.EventTimestamp, Type: gbigquery.DayPartitioningType}}); err != nil {
		t.Fatalf("create %s: %v", view, err)
	}
	var rows, pubs []*gbigquery.ValuesSaver
	for _, ch := range c.Chunks {
		nullCR := map[int]bool{}
		for _, r := range ch.NullCR {
			nullCR[r] = true
		}
		for i, h := range ch.Rows {
			var key, created, val gbigquery.Value
			if !h.NullKey {
				key = h.Key
			}
			noCreated := ch.NoCreated || nullCR[i]
			if !noCreated {
				created = ts(pitcases.At(h.Cr))
			}
			if h.Val != nil {
				val = *h.Val
			}
			rows = append(rows, &gbigquery.ValuesSaver{Schema: historySchema(), Row: []gbigquery.Value{key, ts(pitcases.At(h.TS)), created, val}})
			known := ch.Known
			switch {
			case noCreated || known == features.NeverKnown:
				continue
			case known == features.KnownAtCreated:
				known = pitcases.At(h.Cr)
			}
			pubs = append(pubs, &gbigquery.ValuesSaver{Schema: publishedSchema(),
				Row: []gbigquery.Value{view, ts(pitcases.At(h.TS)), ts(pitcases.At(h.Cr)), ts(known)}})
		}
	}
	if len(rows) > 0 {
		if err := tbl.Inserter().Put(ctx, rows); err != nil {
			t.Fatalf("insert history of %s: %v", view, err)
		}
	}
	if len(pubs) > 0 {
		if err := ds.Table(bqjoin.PublishedTable).Inserter().Put(ctx, pubs); err != nil {
			t.Fatalf("insert publications of %s: %v", view, err)
		}
	}
}

// writeEntities writes a case's entity rows as a local Parquet file, with a
// label column to check that the other columns pass through in order.
func writeEntities(t *testing.T, ents []pitcases.Ent) string {
	t.Helper()
	keys := features.NewColumn("user_id", features.String, 0)
	times := features.NewColumn(bqjoin.EventTimestamp, features.Int64, 0)
	label := features.NewColumn("label", features.Int64, 0)
	for i, e := range ents {
		k := features.StringValue(e.Key)
		if e.NullKey {
			k = features.Null
		}
		_ = keys.Append(k)
		_ = times.Append(features.IntValue(pitcases.At(e.T) + e.PlusUS))
		_ = label.Append(features.IntValue(int64(100 + i)))
	}
	var buf bytes.Buffer
	if err := parquet.WriteTable(&buf, []*features.Column{keys, times, label}, bqjoin.EventTimestamp); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "entities.parquet")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readColumn(t *testing.T, path, name string, typ features.Type) *features.Column {
	t.Helper()
	f, err := parquet.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var col *features.Column
	for _, rg := range f.RowGroups() {
		if col, err = f.ReadColumn(rg, name, typ, col); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return col
}

// TestEdgeCasesOnBigQuery runs the join's shared edge-case table
// (internal/pitcases, which features.AsOfJoin also runs) through the
// generated SQL on the BigQuery emulator: same answers, row for row, input
// order and labels kept.
func TestEdgeCasesOnBigQuery(t *testing.T) {
	ctx := context.Background()
	bq := testenv.StartBigQuery(t, project, dataset)
	ds := bq.Client.Dataset(dataset)
	if err := ds.Table(bqjoin.PublishedTable).Create(ctx, &gbigquery.TableMetadata{Schema: publishedSchema()}); err != nil {
		t.Fatal(err)
	}
	cases := pitcases.All()
	reg := caseRegistry(t, len(cases))
	for i, c := range cases {
		view := fmt.Sprintf("c%d", i)
		t.Run(c.Name, func(t *testing.T) {
			v, _ := reg.View(view)
			v.TTL, v.Lateness = c.Opt.TTL, c.Opt.Lateness
			loadCase(ctx, t, ds, view, c)
			ents := writeEntities(t, c.Ents)
			out := filepath.Join(t.TempDir(), "out.parquet")
			st, err := bqjoin.Build(ctx, bq.Client, bqjoin.Dataset{Project: project, Name: dataset}, reg, bqjoin.Options{
				Entities: ents, Features: []features.FeatureRef{{View: view, Feature: "v"}}, Out: out,
				Visibility: c.Opt.Visibility, AsKnownAt: c.Opt.AsKnownAt,
			})
			if err != nil {
				t.Fatal(err)
			}
			if st.EntityRows != int64(len(c.Ents)) {
				t.Errorf("EntityRows = %d, want %d", st.EntityRows, len(c.Ents))
			}
			got := readColumn(t, out, view+"__v", features.Int64)
			labels := readColumn(t, out, "label", features.Int64)
			if got.Len() != len(c.Want) {
				t.Fatalf("%d output rows, want %d", got.Len(), len(c.Want))
			}
			for r, w := range c.Want {
				want := features.Null
				if w != nil {
					want = features.IntValue(*w)
				}
				if !got.Value(r).Equal(want) {
					t.Errorf("row %d (T=%s): got %s, want %s", r, ts(pitcases.At(c.Ents[r].T)+c.Ents[r].PlusUS), got.Value(r), want)
				}
				if l := labels.Value(r); !l.Equal(features.IntValue(int64(100 + r))) {
					t.Errorf("row %d: label %s, want %d (input order lost)", r, l, 100+r)
				}
			}
			assertNoTempTables(ctx, t, ds)
		})
	}
}

// assertNoTempTables checks that a build dropped its intermediate tables.
func assertNoTempTables(ctx context.Context, t *testing.T, ds *gbigquery.Dataset) {
	t.Helper()
	it := ds.Tables(ctx)
	for {
		tb, err := it.Next()
		if err != nil {
			break
		}
		if len(tb.TableID) > 12 && tb.TableID[:12] == "_skewfree_ts" {
			t.Errorf("intermediate table %s left behind", tb.TableID)
		}
	}
}

// History rows that tie exactly on (event_timestamp, created_timestamp)
// but hold different values (only other tools' rows can) give one answer
// whatever order they were stored in: the statement orders them by value.
func TestExactTiesAreDeterministic(t *testing.T) {
	ctx := context.Background()
	bq := testenv.StartBigQuery(t, project, dataset)
	ds := bq.Client.Dataset(dataset)
	if err := ds.Table(bqjoin.PublishedTable).Create(ctx, &gbigquery.TableMetadata{Schema: publishedSchema()}); err != nil {
		t.Fatal(err)
	}
	reg := caseRegistry(t, 2)
	vals := []int64{2, 7, 5}
	ents := writeEntities(t, []pitcases.Ent{{Key: "a", T: 30}})
	var answers []features.Value
	for i, order := range [][]int{{0, 1, 2}, {2, 1, 0}} {
		view := fmt.Sprintf("c%d", i)
		var rows []pitcases.Hist
		for _, o := range order {
			rows = append(rows, pitcases.Hist{Key: "a", TS: 24, Cr: 25, Val: &vals[o]})
		}
		loadCase(ctx, t, ds, view, pitcases.Case{Chunks: []pitcases.Chunk{{Rows: rows, Known: features.KnownAtCreated}}})
		out := filepath.Join(t.TempDir(), "out.parquet")
		if _, err := bqjoin.Build(ctx, bq.Client, bqjoin.Dataset{Project: project, Name: dataset}, reg, bqjoin.Options{
			Entities: ents, Features: []features.FeatureRef{{View: view, Feature: "v"}}, Out: out,
		}); err != nil {
			t.Fatal(err)
		}
		answers = append(answers, readColumn(t, out, view+"__v", features.Int64).Value(0))
	}
	if !answers[0].Equal(answers[1]) || answers[0].IsNull() {
		t.Errorf("exact ties stored in two orders gave %s and %s, want one answer", answers[0], answers[1])
	}
}
