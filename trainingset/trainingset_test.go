package trainingset_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goparquet "github.com/parquet-go/parquet-go"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/trainingset"
)

var day0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// registry: one daily view keyed by int64 with a 3-day TTL, one hourly view
// keyed by string with no TTL.
func registry(t testing.TB) *features.Registry {
	t.Helper()
	r := features.NewRegistry()
	err := r.Register(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.Int64},
		&features.Entity{Name: "shop", JoinKey: "shop", KeyType: features.String},
		&features.Source{Name: "ev", Path: "ev", TimestampField: "ts", Fields: []features.Field{
			{Name: "user_id", Type: features.Int64}, {Name: "shop", Type: features.String},
			{Name: "x", Type: features.Float64}, {Name: "s", Type: features.String}}},
		&features.View{Name: "daily", Entity: "user", Source: "ev", Cadence: features.Daily, TTL: 72 * time.Hour, Lateness: lateness, Owner: "o", Description: "d",
			Aggregations: []features.Aggregation{
				{Name: "cnt", Kind: features.Count, Window: 24 * time.Hour},
				{Name: "avg", Kind: features.Mean, Column: "x", Window: 24 * time.Hour},
				{Name: "last", Kind: features.Last, Column: "s", Window: 24 * time.Hour}}},
		&features.View{Name: "hourly", Entity: "shop", Source: "ev", Cadence: features.Hourly, Owner: "o", Description: "d",
			Aggregations: []features.Aggregation{{Name: "n", Kind: features.Count, Window: time.Hour}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// lateness of the daily view: its rows are available from E + 2h.
const lateness = 2 * time.Hour

type histRow struct {
	user    int64
	ts, cr  int64
	known   int64 // publication time of the row's version; features.NeverKnown
	cnt     int64
	avg     *float64
	last    string
	nullStr bool
}

// writeHistory writes random daily history for users 0..nu-1 over days
// windows, including re-runs of windows with later created_timestamps (as a
// correcting backfill would: a second version, the first one stays), most
// versions published at a random time after their run, some never, and
// returns every row stored.
func writeHistory(t *testing.T, s *parquet.Store, rng *rand.Rand, nu, days int) []histRow {
	t.Helper()
	ctx := context.Background()
	var all []histRow
	for d := 1; d <= days; d++ {
		end := day0.Add(time.Duration(d) * 24 * time.Hour)
		f := &features.Frame{Key: features.NewColumn("user_id", features.Int64, 0)}
		cnt := features.NewColumn("cnt", features.Int64, 0)
		avg := features.NewColumn("avg", features.Float64, 0)
		last := features.NewColumn("last", features.String, 0)
		var rows []histRow
		for u := range nu {
			if rng.IntN(3) == 0 {
				continue // not every user has a row every day
			}
			r := histRow{user: int64(u), ts: features.Micros(end), cr: features.Micros(end.Add(time.Duration(rng.IntN(5)) * time.Minute)),
				cnt: rng.Int64N(10), last: string(rune('a' + rng.IntN(5)))}
			if rng.IntN(4) > 0 {
				v := rng.Float64()
				r.avg = &v
			}
			r.nullStr = rng.IntN(5) == 0
			rows = append(rows, r)
			_ = f.Key.Append(features.IntValue(r.user))
			f.Time = append(f.Time, r.ts)
			f.Created = append(f.Created, r.cr)
			_ = cnt.Append(features.IntValue(r.cnt))
			if r.avg != nil {
				_ = avg.Append(features.FloatValue(*r.avg))
			} else {
				_ = avg.Append(features.Null)
			}
			if r.nullStr {
				_ = last.Append(features.Null)
			} else {
				_ = last.Append(features.StringValue(r.last))
			}
		}
		f.Columns = []*features.Column{cnt, avg, last}
		// A version: the run created at created writes its file, then is
		// published (or, one in six, never: its push failed).
		version := func(created time.Time) {
			p, err := s.WriteWindow(ctx, "daily", end, created, -1, f, "fp")
			if err != nil {
				t.Fatal(err)
			}
			known := features.NeverKnown
			if rng.IntN(6) > 0 {
				pub := created.Add(time.Duration(rng.Int64N(int64(3 * time.Hour))))
				if err := s.MarkPublished(ctx, parquet.Publication{View: "daily", WindowEnd: end, Created: created, Published: pub,
					Partitions: []parquet.Partition{p}}); err != nil {
					t.Fatal(err)
				}
				known = features.Micros(pub)
			}
			for i := range rows {
				rows[i].known = known
			}
			all = append(all, rows...)
		}
		// Some windows are run twice, the second time as a correction
		// computed later with other values: both versions stay.
		if rng.IntN(2) == 0 {
			version(end.Add(lateness + 10*time.Minute))
			rows = slices.Clone(rows)
			for i := range rows {
				rows[i].cr += int64(time.Hour / time.Microsecond)
				rows[i].cnt += 100
				f.Created[i] = rows[i].cr
				cnt.Ints[i] = rows[i].cnt
			}
		}
		version(end.Add(lateness + 70*time.Minute))
	}
	return all
}

// expected applies DESIGN.md's contract by brute force.
func expected(hist []histRow, user int64, T int64, ttl time.Duration, vis features.Visibility, asKnownAt bool) *histRow {
	var best *histRow
	delay := lateness.Microseconds()
	if vis == features.VisibleAtEventTime {
		delay = 0
	}
	for i := range hist {
		h := &hist[i]
		if h.user != user || h.ts+delay > T || (ttl > 0 && h.ts < T-ttl.Microseconds()) || (asKnownAt && h.known > T) {
			continue
		}
		if best == nil || h.ts > best.ts || (h.ts == best.ts && h.cr > best.cr) {
			best = h
		}
	}
	return best
}

type entityRow struct {
	user  int64
	T     int64
	label int64
}

// writeEntities writes an entity table the way pandas or DuckDB would: the
// timestamp in the given unit, optionally not UTC-adjusted, keys as INT64, a
// label column, and a nullable string column passed through.
func writeEntities(t *testing.T, path string, rows []entityRow, unit goparquet.TimeUnit, adjusted bool, rowGroup int) {
	t.Helper()
	schema := goparquet.NewSchema("entities", goparquet.Group{
		"event_timestamp": goparquet.TimestampAdjusted(unit, adjusted),
		"label":           goparquet.Int(64),
		"note":            goparquet.Optional(goparquet.String()),
		"user_id":         goparquet.Int(64),
	})
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	w := goparquet.NewWriter(fh, schema, goparquet.MaxRowsPerRowGroup(int64(rowGroup)))
	// Entity times are microseconds; store them in the file's unit.
	inUnit := func(us int64) int64 {
		switch unit {
		case goparquet.Millisecond:
			return us / 1000
		case goparquet.Nanosecond:
			return us * 1000
		}
		return us
	}
	for i, r := range rows {
		ts := inUnit(r.T)
		note := goparquet.Value{}.Level(0, 0, 2)
		if i%2 == 0 {
			note = goparquet.ByteArrayValue([]byte("n")).Level(0, 1, 2)
		}
		row := goparquet.Row{goparquet.Int64Value(ts).Level(0, 0, 0), goparquet.Int64Value(r.label).Level(0, 0, 1), note,
			goparquet.Int64Value(r.user).Level(0, 0, 3)}
		if _, err := w.WriteRows([]goparquet.Row{row}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBuildMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	dir := t.TempDir()
	s, err := parquet.Open("file://" + filepath.Join(dir, "offline"))
	if err != nil {
		t.Fatal(err)
	}
	const days = 12
	hist := writeHistory(t, s, rng, 60, days)
	var ents []entityRow
	for i := range 2000 {
		// Times on window ends (ties), at TTL edges, between, and before
		// any history; keys including unknown ones; duplicates.
		var T int64
		switch rng.IntN(7) {
		case 0:
			T = features.Micros(day0.Add(time.Duration(rng.IntN(days+2)) * 24 * time.Hour))
		case 1:
			T = features.Micros(day0.Add(time.Duration(rng.IntN(days+2))*24*time.Hour + 72*time.Hour))
		case 2: // at the lateness edge, and 1µs before it
			T = features.Micros(day0.Add(time.Duration(rng.IntN(days+2))*24*time.Hour+lateness)) - rng.Int64N(2)
		case 3: // at a publication, and 1µs before it
			if h := hist[rng.IntN(len(hist))]; h.known != features.NeverKnown {
				T = h.known - rng.Int64N(2)
			} else {
				T = h.ts + lateness.Microseconds()
			}
		default:
			T = features.Micros(day0) + rng.Int64N(int64(days+5)*24*3600e6/1000)*1000 // millisecond precision
		}
		ents = append(ents, entityRow{user: rng.Int64N(70), T: T, label: int64(i)})
	}
	ents = append(ents, ents[5], ents[5])
	reg := registry(t)
	refs, err := reg.ResolveRefs([]string{"daily:cnt", "daily:avg", "daily:last"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		unit      goparquet.TimeUnit
		adjusted  bool
		vis       features.Visibility
		asKnownAt bool
		budget    int64
		workers   int
	}{
		{"micros utc, one partition", goparquet.Microsecond, true, features.VisibleWhenAvailable, false, 0, 0},
		{"millis local-time file", goparquet.Millisecond, false, features.VisibleWhenAvailable, false, 0, 1},
		{"nanos file", goparquet.Nanosecond, true, features.VisibleWhenAvailable, false, 0, 3},
		{"feast visibility", goparquet.Microsecond, true, features.VisibleAtEventTime, false, 0, 2},
		{"as-known-at", goparquet.Microsecond, true, features.VisibleWhenAvailable, true, 0, 2},
		{"as-known-at, feast visibility", goparquet.Microsecond, true, features.VisibleAtEventTime, true, 0, 1},
		{"spilled into partitions by a tiny memory budget", goparquet.Microsecond, true, features.VisibleWhenAvailable, false, 20 << 10, 2},
		{"as-known-at, spilled", goparquet.Microsecond, true, features.VisibleWhenAvailable, true, 20 << 10, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ents := slices.Clone(ents)
			if tc.unit == goparquet.Millisecond { // the file keeps milliseconds
				for i := range ents {
					ents[i].T -= ents[i].T % 1000
				}
			}
			in := filepath.Join(t.TempDir(), "entities.parquet")
			writeEntities(t, in, ents, tc.unit, tc.adjusted, 700)
			out := filepath.Join(t.TempDir(), "out.parquet")
			st, err := trainingset.Build(context.Background(), reg, s, trainingset.Options{
				Entities: in, Features: refs, Out: out, Visibility: tc.vis, AsKnownAt: tc.asKnownAt, MemoryBudget: tc.budget, Workers: tc.workers})
			if err != nil {
				t.Fatal(err)
			}
			if tc.budget > 0 && st.Partitions < 2 {
				t.Fatalf("tiny budget used %d partitions", st.Partitions)
			}
			f, err := parquet.OpenFile(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got := strings.Join(f.Columns(), ","); got != "event_timestamp,label,note,user_id,daily__cnt,daily__avg,daily__last" {
				t.Fatalf("output columns %s", got)
			}
			res := readOutput(t, f)
			if len(res) != len(ents) {
				t.Fatalf("output rows %d, want %d", len(res), len(ents))
			}
			present := 0
			for i, e := range ents {
				r := res[i]
				if r.label != e.label || r.T != e.T {
					t.Fatalf("row %d: label/time %d/%d, want %d/%d (order or pass-through broken)", i, r.label, r.T, e.label, e.T)
				}
				if r.note != (i%2 == 0) {
					t.Fatalf("row %d: nullable pass-through column changed", i)
				}
				want := expected(hist, e.user, e.T, 72*time.Hour, tc.vis, tc.asKnownAt)
				if want == nil {
					if !r.cnt.IsNull() || !r.avg.IsNull() || !r.last.IsNull() {
						t.Fatalf("row %d (user %d at %s): got values %s %s %s, want nulls", i, e.user, features.FromMicros(e.T), r.cnt, r.avg, r.last)
					}
					continue
				}
				present++
				wantAvg, wantLast := features.Null, features.StringValue(want.last)
				if want.avg != nil {
					wantAvg = features.FloatValue(*want.avg)
				}
				if want.nullStr {
					wantLast = features.Null
				}
				if !r.cnt.Equal(features.IntValue(want.cnt)) || !r.avg.Equal(wantAvg) || !r.last.Equal(wantLast) {
					t.Fatalf("row %d (user %d at %s): got %s %s %s, want %d %s %s", i, e.user, features.FromMicros(e.T), r.cnt, r.avg, r.last, want.cnt, wantAvg, wantLast)
				}
			}
			if present < len(ents)/3 {
				t.Fatalf("only %d of %d rows found history: the test data is too thin to mean anything", present, len(ents))
			}
		})
	}
}

type outRow struct {
	T, label       int64
	note           bool
	cnt, avg, last features.Value
}

func readOutput(t *testing.T, f *parquet.File) []outRow {
	t.Helper()
	var rows []outRow
	for _, rg := range f.RowGroups() {
		times, _, err := f.ReadTimes(rg, "event_timestamp", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		cols := map[string]*features.Column{}
		for name, ty := range map[string]features.Type{"label": features.Int64, "note": features.String, "daily__cnt": features.Int64, "daily__avg": features.Float64, "daily__last": features.String} {
			if cols[name], err = f.ReadColumn(rg, name, ty, nil); err != nil {
				t.Fatal(err)
			}
		}
		for i := range times {
			rows = append(rows, outRow{T: times[i], label: cols["label"].Ints[i], note: cols["note"].Valid[i],
				cnt: cols["daily__cnt"].Value(i), avg: cols["daily__avg"].Value(i), last: cols["daily__last"].Value(i)})
		}
	}
	return rows
}

func TestBuildRejectsBadInput(t *testing.T) {
	reg := registry(t)
	dir := t.TempDir()
	s, _ := parquet.Open(filepath.Join(dir, "offline"))
	daily, _ := reg.ResolveRefs([]string{"daily:cnt"})
	hourly, _ := reg.ResolveRefs([]string{"hourly:n"})
	good := filepath.Join(dir, "good.parquet")
	writeEntities(t, good, []entityRow{{user: 1, T: features.Micros(day0)}}, goparquet.Microsecond, true, 10)

	stringTime := filepath.Join(dir, "string_time.parquet")
	writeSchema(t, stringTime, goparquet.Group{"event_timestamp": goparquet.String(), "user_id": goparquet.Int(64)},
		goparquet.Row{goparquet.ByteArrayValue([]byte("2026-11-01")).Level(0, 0, 0), goparquet.Int64Value(1).Level(0, 0, 1)})
	noTime := filepath.Join(dir, "no_time.parquet")
	writeSchema(t, noTime, goparquet.Group{"user_id": goparquet.Int(64)}, goparquet.Row{goparquet.Int64Value(1).Level(0, 0, 0)})
	labelClash := filepath.Join(dir, "clash.parquet")
	writeSchema(t, labelClash, goparquet.Group{"event_timestamp": goparquet.Timestamp(goparquet.Microsecond), "user_id": goparquet.Int(64), "daily__cnt": goparquet.Int(64)},
		goparquet.Row{goparquet.Int64Value(1).Level(0, 0, 0), goparquet.Int64Value(1).Level(0, 0, 1), goparquet.Int64Value(1).Level(0, 0, 2)})

	cases := []struct {
		name     string
		entities string
		refs     []features.FeatureRef
		want     string
	}{
		{"missing join key column", good, hourly, "missing join key column shop (needed by view hourly)"},
		{"missing event_timestamp", noTime, daily, "missing column event_timestamp"},
		{"event_timestamp is a string", stringTime, daily, "column event_timestamp has type STRING, want a TIMESTAMP"},
		{"output column already in input", labelClash, daily, "already has a column daily__cnt"},
		{"unknown view", good, []features.FeatureRef{{View: "ghost", Feature: "x"}}, `unknown view "ghost"`},
		{"unknown feature", good, []features.FeatureRef{{View: "daily", Feature: "ghost"}}, `unknown feature "ghost" in view daily`},
		{"entity file missing", filepath.Join(dir, "nope.parquet"), daily, "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.parquet")
			_, err := trainingset.Build(context.Background(), reg, s, trainingset.Options{Entities: c.entities, Features: c.refs, Out: out})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
				t.Fatalf("a failed build left %d files next to --out", len(ents))
			}
		})
	}
}

func writeSchema(t *testing.T, path string, g goparquet.Group, row goparquet.Row) {
	t.Helper()
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	w := goparquet.NewWriter(fh, goparquet.NewSchema("x", g))
	if _, err := w.WriteRows([]goparquet.Row{row}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// A tiny budget splits the entity rows by key hash; partitions that no key
// hashed to must not scan history (a nil row list would mean "all rows").
func TestEmptyPartitionsScanNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	dir := t.TempDir()
	s, _ := parquet.Open(filepath.Join(dir, "offline"))
	writeHistory(t, s, rng, 3, 4)
	var ents []entityRow
	for i := range 3000 { // one key: at most one non-empty partition
		ents = append(ents, entityRow{user: 1, T: features.Micros(day0.Add(100 * time.Hour)), label: int64(i)})
	}
	in := filepath.Join(dir, "e.parquet")
	writeEntities(t, in, ents, goparquet.Microsecond, true, 1000)
	reg := registry(t)
	refs, _ := reg.ResolveRefs([]string{"daily:cnt"})
	st, err := trainingset.Build(context.Background(), reg, s, trainingset.Options{Entities: in, Features: refs,
		Out: filepath.Join(dir, "out.parquet"), MemoryBudget: 20 << 10})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := s.ViewFiles(context.Background(), "daily", time.Time{}, time.Time{})
	if st.Partitions < 2 || st.Files > len(files) {
		t.Fatalf("%d partitions scanned %d files; the history has %d: empty partitions rescanned it", st.Partitions, st.Files, len(files))
	}
}

// An entity table whose key column has another type than the view's entity
// fails with a clear error, not a panic. (Two entities sharing a join key
// name with different types are rejected at registration.)
func TestKeyColumnOfAnotherType(t *testing.T) {
	r := features.NewRegistry()
	err := r.Register(
		&features.Entity{Name: "shop", JoinKey: "id", KeyType: features.String},
		&features.Source{Name: "b", Path: "b", TimestampField: "ts", Fields: []features.Field{{Name: "id", Type: features.String}}},
		&features.View{Name: "vb", Entity: "shop", Source: "b", Cadence: features.Daily, Owner: "o", Description: "d",
			Aggregations: []features.Aggregation{{Name: "n", Kind: features.Count, Window: 24 * time.Hour}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, _ := parquet.Open(filepath.Join(dir, "offline"))
	in := filepath.Join(dir, "e.parquet")
	// The file's id column is INT64: the string-keyed view must fail with a
	// clear error, not a panic.
	writeSchema(t, in, goparquet.Group{"event_timestamp": goparquet.Timestamp(goparquet.Microsecond), "id": goparquet.Int(64)},
		goparquet.Row{goparquet.Int64Value(features.Micros(day0)).Level(0, 0, 0), goparquet.Int64Value(1).Level(0, 0, 1)})
	refs, _ := r.ResolveRefs([]string{"vb:n"})
	_, err = trainingset.Build(context.Background(), r, s, trainingset.Options{Entities: in, Features: refs, Out: filepath.Join(dir, "out.parquet")})
	if err == nil || !strings.Contains(err.Error(), "column id has type INT(64,true), want string") {
		t.Fatalf("err = %v", err)
	}
}
