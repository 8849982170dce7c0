package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// table is a training set read back: the entity columns and the features.
type table struct {
	key   *features.Column
	times []int64
	label *features.Column
	feats []*features.Column // in featureNames order
}

func (t *table) len() int { return len(t.times) }

func readTable(path string, feats []features.Feature) (*table, error) {
	f, err := parquet.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t := &table{feats: make([]*features.Column, len(feats))}
	for _, rg := range f.RowGroups() {
		if t.times, _, err = f.ReadTimes(rg, parquet.EventTimestamp, t.times, nil); err != nil {
			return nil, err
		}
		if t.key, err = f.ReadColumn(rg, joinKey, features.Int64, t.key); err != nil {
			return nil, err
		}
		if t.label, err = f.ReadColumn(rg, labelColumn, features.Int64, t.label); err != nil {
			return nil, err
		}
		for i, ft := range feats {
			if t.feats[i], err = f.ReadColumn(rg, viewName+"__"+ft.Name, ft.Type, t.feats[i]); err != nil {
				return nil, err
			}
		}
	}
	if t.key == nil {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	return t, nil
}

// mismatch is one feature value on which an engine disagrees with ours.
type mismatch struct {
	row         int
	engine      string
	feature     string
	ours, other features.Value
}

// compareTables checks that both outputs hold the same entity rows in the
// same order and returns every differing feature value.
func compareTables(ours, duck *table, engine string) ([]mismatch, error) {
	if ours.len() != duck.len() {
		return nil, fmt.Errorf("row counts differ: %s %d, %s %d", engineOurs, ours.len(), engine, duck.len())
	}
	for r := range ours.len() {
		if ours.times[r] != duck.times[r] || !ours.key.Value(r).Equal(duck.key.Value(r)) || !ours.label.Value(r).Equal(duck.label.Value(r)) {
			return nil, fmt.Errorf("entity columns differ at row %d (order not kept?): %s (%s, %s), %s (%s, %s)", r,
				engineOurs, ours.key.Value(r), features.FromMicros(ours.times[r]).Format(time.RFC3339Nano),
				engine, duck.key.Value(r), features.FromMicros(duck.times[r]).Format(time.RFC3339Nano))
		}
	}
	var out []mismatch
	for i, name := range featureNames {
		a, b := ours.feats[i], duck.feats[i]
		for r := range ours.len() {
			if va, vb := a.Value(r), b.Value(r); !va.Equal(vb) {
				out = append(out, mismatch{row: r, engine: engine, feature: name, ours: va, other: vb})
			}
		}
	}
	return out, nil
}

// histRow is one history row kept by the contract check.
type histRow struct {
	ts, created int64
	vals        []features.Value
}

// verdict is the contract check's finding over a set of rows.
type verdict struct {
	rows      int
	wrong     []int // rows with a wrong value, per engine
	ambiguous int   // exact (event, created) ties with different values
	examples  []string
}

// checkContract recomputes the answer of the given rows straight from
// DESIGN.md's contract, by brute force over the whole history of their
// users: T - ttl <= event_timestamp <= T, the greatest event_timestamp, ties
// by the greatest created_timestamp. It tells which engine is right where
// they disagree. tables are the engines' outputs, ours first.
func checkContract(ctx context.Context, d dataset, ttl time.Duration, feats []features.Feature, rows []int, engines []string, tables []*table) (verdict, error) {
	ours := tables[0]
	want := map[int64][]histRow{}
	for _, r := range rows {
		if ours.key.Valid[r] {
			want[ours.key.Ints[r]] = nil
		}
	}
	st, err := parquet.Open(d.offline())
	if err != nil {
		return verdict{}, err
	}
	files, err := st.ViewFiles(ctx, viewName, time.Time{}, time.Time{})
	if err != nil {
		return verdict{}, err
	}
	spec := parquet.FrameSpec{Key: joinKey, KeyType: features.Int64, Time: parquet.EventTimestamp, Created: true, MissingAsNull: true}
	for _, ft := range feats {
		spec.Columns = append(spec.Columns, features.Field{Name: ft.Name, Type: ft.Type})
	}
	for _, path := range files {
		f, err := parquet.OpenFile(path)
		if err != nil {
			return verdict{}, err
		}
		err = f.ReadFrames(spec, func(fr *features.Frame) error {
			for r := range fr.Len() {
				k := fr.Key.Ints[r]
				hs, ok := want[k]
				if !ok || !fr.Key.Valid[r] {
					continue
				}
				h := histRow{ts: fr.Time[r], created: fr.Created[r], vals: make([]features.Value, len(fr.Columns))}
				for i, c := range fr.Columns {
					h.vals[i] = c.Value(r)
				}
				want[k] = append(hs, h)
			}
			return ctx.Err()
		})
		f.Close()
		if err != nil {
			return verdict{}, err
		}
	}
	v := verdict{rows: len(rows), wrong: make([]int, len(tables))}
	ttlUS := ttl.Microseconds()
	for _, r := range rows {
		T := ours.times[r]
		var best *histRow
		tie := false
		if ours.key.Valid[r] {
			for i := range want[ours.key.Ints[r]] {
				h := &want[ours.key.Ints[r]][i]
				if h.ts > T || (ttlUS > 0 && h.ts < T-ttlUS) {
					continue
				}
				if best == nil {
					best = h
					continue
				}
				switch c := cmp.Or(cmp.Compare(h.ts, best.ts), cmp.Compare(h.created, best.created)); {
				case c > 0:
					best, tie = h, false
				case c == 0 && !slices.EqualFunc(h.vals, best.vals, features.Value.Equal):
					tie = true
				}
			}
		}
		if tie {
			v.ambiguous++
			continue
		}
		var bad []string
		for t, tab := range tables {
			var errs []string
			for i, name := range featureNames {
				exp := features.Null
				if best != nil {
					exp = best.vals[i]
				}
				if got := tab.feats[i].Value(r); !got.Equal(exp) {
					errs = append(errs, fmt.Sprintf("%s=%s want %s", name, got, exp))
				}
			}
			if len(errs) > 0 {
				v.wrong[t]++
				bad = append(bad, engines[t]+" wrong: "+strings.Join(errs, ", "))
			}
		}
		if len(bad) > 0 && len(v.examples) < 8 {
			v.examples = append(v.examples, describeRow(r, ours, want[ours.key.Ints[r]], ttlUS, bad))
		}
	}
	return v, nil
}

// describeRow explains one wrong row: the entity row, the engines' errors
// and the user's history rows near T.
func describeRow(r int, ours *table, hist []histRow, ttlUS int64, bad []string) string {
	var b strings.Builder
	T := ours.times[r]
	fmt.Fprintf(&b, "row %d: user_id=%s T=%s", r, ours.key.Value(r), fmtTime(T))
	for _, s := range bad {
		b.WriteString("\n    " + s)
	}
	hist = slices.Clone(hist)
	slices.SortFunc(hist, func(a, b histRow) int { return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.created, b.created)) })
	for _, h := range hist {
		if h.ts > T+48*time.Hour.Microseconds() || (ttlUS > 0 && h.ts < T-ttlUS-48*time.Hour.Microseconds()) {
			continue
		}
		fmt.Fprintf(&b, "\n    history event=%s created=%s %v", fmtTime(h.ts), fmtTime(h.created), h.vals)
	}
	return b.String()
}

func fmtTime(us int64) string { return features.FromMicros(us).Format("2006-01-02T15:04:05.000000Z") }

// rowsToCheck are the rows of every mismatch (at most limit) plus a seeded
// random sample of n rows, sorted and distinct.
func rowsToCheck(ms []mismatch, limit, n, total int, seed uint64) []int {
	var rows []int
	for _, m := range ms {
		if len(rows) >= limit {
			break
		}
		rows = append(rows, m.row)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for range min(n, total) {
		rows = append(rows, rng.IntN(total))
	}
	slices.Sort(rows)
	return slices.Compact(rows)
}

// printMismatches prints a summary per feature and the first few rows.
func printMismatches(w io.Writer, ms []mismatch, t *table) {
	if len(ms) == 0 {
		return
	}
	per := map[string]int{}
	for _, m := range ms {
		per[m.feature]++
	}
	for _, name := range featureNames {
		fmt.Fprintf(w, "    %-16s %d mismatches\n", name, per[name])
	}
	for _, m := range ms[:min(len(ms), 5)] {
		fmt.Fprintf(w, "    row %d user_id=%s T=%s %s: %s=%s %s=%s\n", m.row, t.key.Value(m.row), fmtTime(t.times[m.row]),
			m.feature, engineOurs, m.ours, m.engine, m.other)
	}
}
