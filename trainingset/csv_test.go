package trainingset_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goparquet "github.com/parquet-go/parquet-go"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/trainingset"
)

// TestCSVEntitiesJoinLikeParquet builds a training set from an entity table
// kept as CSV and from the same table as Parquet: the features agree row by
// row, the CSV's columns pass through in order and typed by the documented
// rule, and a numeric-looking string join key stays a string.
func TestCSVEntitiesJoinLikeParquet(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	dir := t.TempDir()
	s, err := parquet.Open("file://" + filepath.Join(dir, "offline"))
	if err != nil {
		t.Fatal(err)
	}
	const days = 8
	writeHistory(t, s, rng, 40, days)
	var ents []entityRow
	for i := range 600 {
		T := features.Micros(day0) + rng.Int64N(int64(days+3)*24*3600e3)*1000 // millisecond precision
		ents = append(ents, entityRow{user: rng.Int64N(45), T: T, label: int64(i)})
	}
	pq := filepath.Join(dir, "entities.parquet")
	writeEntities(t, pq, ents, goparquet.Microsecond, true, 200)

	// The same rows as CSV, with times in other offsets, and columns of
	// every inferred type (nulls as empty fields).
	var b strings.Builder
	b.WriteString("\ufeffshop,event_timestamp,user_id,label,note,score,flag,mixed\n")
	for i, e := range ents {
		ts := features.FromMicros(e.T)
		if i%3 == 0 {
			ts = ts.In(time.FixedZone("", 5*3600+30*60))
		}
		note, score, flag, mixed := "", "", "", "x"
		if i%2 == 0 {
			note = "n, \"quoted\""
		}
		switch i % 4 {
		case 0:
			score = "2"
		case 1:
			score = "-0.25"
		case 2:
			score = "1e3"
		}
		if i%5 > 0 {
			flag = fmt.Sprint(i%5 == 1)
		}
		if i%7 == 0 {
			mixed = "12"
		}
		fmt.Fprintf(&b, "%03d,%s,%d,%d,%q,%s,%s,%s\n", i%9, ts.Format(time.RFC3339Nano), e.user, e.label, note, score, flag, mixed)
	}
	csvPath := filepath.Join(dir, "entities.CSV")
	if err := os.WriteFile(csvPath, []byte(strings.ReplaceAll(b.String(), `\"`, `""`)), 0o644); err != nil {
		t.Fatal(err)
	}

	reg := registry(t)
	build := func(in string, refs ...string) *parquet.File {
		t.Helper()
		resolved, err := reg.ResolveRefs(refs)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out.parquet")
		if _, err := trainingset.Build(context.Background(), reg, s, trainingset.Options{Entities: in, Features: resolved, Out: out}); err != nil {
			t.Fatal(err)
		}
		f, err := parquet.OpenFile(out)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	fromPQ := build(pq, "daily:cnt", "daily:avg", "daily:last")
	fromCSV := build(csvPath, "daily:cnt", "daily:avg", "daily:last", "hourly:n")

	wantCols := "shop,event_timestamp,user_id,label,note,score,flag,mixed,daily__cnt,daily__avg,daily__last,hourly__n"
	if got := strings.Join(fromCSV.Columns(), ","); got != wantCols {
		t.Fatalf("columns\n got %s\nwant %s", got, wantCols)
	}
	for _, c := range []struct {
		col  string
		want features.Type
	}{{"shop", features.String}, {"user_id", features.Int64}, {"label", features.Int64}, {"note", features.String},
		{"score", features.Float64}, {"flag", features.Bool}, {"mixed", features.String}} {
		if got, ok := fromCSV.TypeOf(c.col); !ok || got != c.want {
			t.Errorf("column %s: type %s, want %s", c.col, got, c.want)
		}
	}
	if !fromCSV.IsTimestamp("event_timestamp") {
		t.Errorf("event_timestamp is %s, want a TIMESTAMP", fromCSV.ColumnType("event_timestamp"))
	}

	read := func(f *parquet.File, name string, typ features.Type) *features.Column {
		t.Helper()
		var c *features.Column
		for _, rg := range f.RowGroups() {
			if c, err = f.ReadColumn(rg, name, typ, c); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	var times []int64
	for _, rg := range fromCSV.RowGroups() {
		if times, _, err = fromCSV.ReadTimes(rg, "event_timestamp", times, nil); err != nil {
			t.Fatal(err)
		}
	}
	shop, label, note := read(fromCSV, "shop", features.String), read(fromCSV, "label", features.Int64), read(fromCSV, "note", features.String)
	score, flag := read(fromCSV, "score", features.Float64), read(fromCSV, "flag", features.Bool)
	for i, e := range ents {
		if times[i] != e.T || label.Ints[i] != e.label || shop.Strings[i] != fmt.Sprintf("%03d", i%9) {
			t.Fatalf("row %d: time %d label %d shop %q, want %d %d %03d", i, times[i], label.Ints[i], shop.Strings[i], e.T, e.label, i%9)
		}
		if note.Valid[i] != (i%2 == 0) || (note.Valid[i] && note.Strings[i] != `n, "quoted"`) {
			t.Fatalf("row %d: note %v %q", i, note.Valid[i], note.Strings[i])
		}
		wantScore := map[int]features.Value{0: features.FloatValue(2), 1: features.FloatValue(-0.25), 2: features.FloatValue(1000), 3: features.Null}[i%4]
		if !score.Value(i).Equal(wantScore) {
			t.Fatalf("row %d: score %s, want %s", i, score.Value(i), wantScore)
		}
		wantFlag := features.Null
		if i%5 > 0 {
			wantFlag = features.BoolValue(i%5 == 1)
		}
		if !flag.Value(i).Equal(wantFlag) {
			t.Fatalf("row %d: flag %s, want %s", i, flag.Value(i), wantFlag)
		}
	}
	present := 0
	for _, name := range []string{"daily__cnt", "daily__avg", "daily__last"} {
		typ, _ := fromPQ.TypeOf(name)
		a, b := read(fromPQ, name, typ), read(fromCSV, name, typ)
		for i := range ents {
			if !a.Value(i).Equal(b.Value(i)) {
				t.Fatalf("%s row %d: from CSV %s, from Parquet %s", name, i, b.Value(i), a.Value(i))
			}
			if a.Valid[i] {
				present++
			}
		}
	}
	if present < len(ents) {
		t.Fatalf("only %d feature values present: the test data is too thin to mean anything", present)
	}
}

// TestCSVErrorsNameRowAndColumn: a bad CSV entity table fails before any
// work with the row, line and column of the problem, and writes nothing.
func TestCSVErrorsNameRowAndColumn(t *testing.T) {
	reg := registry(t)
	dir := t.TempDir()
	s, err := parquet.Open("file://" + filepath.Join(dir, "offline"))
	if err != nil {
		t.Fatal(err)
	}
	refs, err := reg.ResolveRefs([]string{"daily:cnt"})
	if err != nil {
		t.Fatal(err)
	}
	const head = "user_id,event_timestamp,label\n"
	for _, c := range []struct {
		name, csv, want string
	}{
		{"date without time", head + "1,2026-11-01T00:00:00Z,1\n2,2026-11-02,0\n", `row 2 (line 3), column event_timestamp: "2026-11-02" is not an RFC 3339 time`},
		{"time without offset", head + "1,2026-11-01T10:00:00,1\n", `row 1 (line 2), column event_timestamp: "2026-11-01T10:00:00" is not an RFC 3339 time`},
		{"empty time", head + "1,2026-11-01T00:00:00Z,1\n2,2026-11-01T00:00:00Z,1\n3,,0\n", "row 3 (line 4), column event_timestamp: empty"},
		{"int64 key not a number", head + "1,2026-11-01T00:00:00Z,1\nu2,2026-11-01T00:00:00Z,0\n", `row 2 (line 3), column user_id: "u2" is not a int64 join key`},
		{"empty key", head + ",2026-11-01T00:00:00Z,1\n", "row 1 (line 2), column user_id: empty join key"},
		{"short line", head + "1,2026-11-01T00:00:00Z,1\n2,2026-11-01T00:00:00Z\n", "line 3: wrong number of fields"},
		{"bad quote", head + "1,2026-11-01T00:00:00Z,\"a\"b\n", "line 2, column"},
		{"no event_timestamp", "user_id,ts\n1,2026-11-01T00:00:00Z\n", "header has no column event_timestamp (have user_id,ts)"},
		{"column twice", "user_id,event_timestamp,user_id\n", "column user_id appears twice"},
		{"unnamed column", "user_id,event_timestamp,\n", "column 3 has no name"},
		{"empty file", "", "empty; want a header line"},
		{"no join key", "event_timestamp,label\n2026-11-01T00:00:00Z,1\n", "missing join key column user_id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := filepath.Join(t.TempDir(), "labels.csv")
			if err := os.WriteFile(in, []byte(c.csv), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out.parquet")
			_, err := trainingset.Build(context.Background(), reg, s, trainingset.Options{Entities: in, Features: refs, Out: out})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), in) {
				t.Fatalf("error %v, want one naming %s and containing %q", err, in, c.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("a failed build wrote its output")
			}
		})
	}
}

// TestWriteCSVReadsBack: what WriteCSV writes, ReadCSV reads as the same
// table (the sample entity table of `make dev` is written this way).
func TestWriteCSVReadsBack(t *testing.T) {
	f := &features.Frame{Key: features.NewColumn("user_id", features.String, 0)}
	label := features.NewColumn("label", features.Bool, 0)
	amount := features.NewColumn("amount", features.Float64, 0)
	for i := range 5 {
		_ = f.Key.Append(features.StringValue(fmt.Sprintf("%d", 100+i)))
		f.Time = append(f.Time, features.Micros(day0.Add(time.Duration(i)*time.Hour+1500*time.Microsecond)))
		_ = label.Append(features.BoolValue(i%2 == 0))
		if i == 3 {
			_ = amount.Append(features.Null)
		} else {
			_ = amount.Append(features.FloatValue(float64(i) + 0.5))
		}
	}
	f.Columns = []*features.Column{label, amount}
	var buf bytes.Buffer
	if err := trainingset.WriteCSV(&buf, f); err != nil {
		t.Fatal(err)
	}
	cols, err := trainingset.ReadCSV(&buf, "mem.csv", map[string]features.Type{"user_id": features.String})
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 4 || cols[0].Name != "user_id" || cols[1].Name != "event_timestamp" {
		t.Fatalf("columns %v", cols)
	}
	for i := range 5 {
		if cols[0].Strings[i] != f.Key.Strings[i] || cols[1].Ints[i] != f.Time[i] ||
			!cols[2].Value(i).Equal(label.Value(i)) || !cols[3].Value(i).Equal(amount.Value(i)) {
			t.Fatalf("row %d differs", i)
		}
	}
}
