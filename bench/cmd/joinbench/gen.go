package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// genVersion changes whenever the generator's output changes, so a cached
// data set made by an older generator is not reused.
const genVersion = 1

// params fix a generated data set: the same params give the same files.
type params struct {
	Version  int           `json:"version"`
	Seed     uint64        `json:"seed"`
	Keys     int           `json:"keys"`
	Days     int           `json:"days"`
	Entities int           `json:"entities"`
	TTL      time.Duration `json:"ttl"`
}

// start is the beginning of the history: the first window ends a day later.
var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// dataset is the on-disk layout below the data dir.
type dataset struct {
	dir string
}

func (d dataset) paramsFile() string    { return filepath.Join(d.dir, "params.json") }
func (d dataset) offline() string       { return filepath.Join(d.dir, "offline") }
func (d dataset) entities() string      { return filepath.Join(d.dir, "entities.parquet") }
func (d dataset) historyGlob() string   { return filepath.Join(d.offline(), viewName, "*", "*.parquet") }
func (d dataset) out(eng string) string { return filepath.Join(d.dir, "out", eng+".parquet") }

// keyID is the user_id of the i-th known user; keyID(i)+3 is never known.
func keyID(i int) int64 { return int64(i)*7 + 1000 }

// windowEnd is the end (= event_timestamp) of the d-th daily window.
func windowEnd(d int) time.Time { return start.Add(time.Duration(d+1) * 24 * time.Hour) }

// present reports whether user i has a row in window d. Most users have one
// every day; 2% are sparse (every 10th day, so gaps exceed a 7-day TTL) and
// 0.1% never have one.
func present(i, d int) bool {
	switch {
	case i%1000 == 999:
		return false
	case i%50 == 7:
		return (d+i)%10 == 0
	}
	return true
}

var categories = []string{"books", "games", "garden", "grocery", "music", "outdoor", "pets", "shoes", "toys", "travel"}

// ensureData generates the data set unless dir already holds one made with
// the same params.
func ensureData(ctx context.Context, log *slog.Logger, d dataset, p params) error {
	if b, err := os.ReadFile(d.paramsFile()); err == nil {
		var have params
		if json.Unmarshal(b, &have) == nil && have == p {
			if _, err := os.Stat(d.entities()); err == nil {
				log.Info("reusing cached data set", "dir", d.dir)
				return nil
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read params: %w", err)
	}
	// Remove any older data set first: stale windows would join too.
	for _, p := range []string{d.paramsFile(), d.offline(), d.entities()} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("clear old data set: %w", err)
		}
	}
	t0 := time.Now()
	log.Info("generating data set", "dir", d.dir, "keys", p.Keys, "days", p.Days, "history_rows", p.Keys*p.Days, "entities", p.Entities)
	reg, err := newRegistry(p.TTL)
	if err != nil {
		return err
	}
	if err := writeHistory(ctx, d, p, reg.Fingerprint(viewName)); err != nil {
		return err
	}
	if err := writeEntities(d, p); err != nil {
		return err
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(d.paramsFile(), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write params: %w", err)
	}
	log.Info("generated data set", "elapsed", time.Since(t0).Round(time.Millisecond))
	return nil
}

// writeHistory writes p.Days windows of exactly p.Keys rows each through the
// offline store's own writer. Rows missing for sparse users are made up by
// duplicates: a second row for the same (user, window) with another
// created_timestamp, earlier or later than the first, and other values, so
// the created_timestamp tie-break decides the answer.
func writeHistory(ctx context.Context, d dataset, p params, fingerprint string) error {
	st, err := parquet.Open(d.offline())
	if err != nil {
		return err
	}
	days := make(chan int)
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for day := range days {
				end := windowEnd(day)
				if _, err := st.WriteWindow(ctx, viewName, end, end, -1, historyWindow(p, day), fingerprint); err != nil {
					errs <- fmt.Errorf("window %s: %w", end.Format(time.DateOnly), err)
					return
				}
			}
		})
	}
	var werr error
feed:
	for day := range p.Days {
		select {
		case days <- day:
		case werr = <-errs:
			break feed
		}
	}
	close(days)
	wg.Wait()
	close(errs)
	return errors.Join(werr, <-errs)
}

func historyWindow(p params, day int) *features.Frame {
	rng := rand.New(rand.NewPCG(p.Seed, uint64(day)))
	end := features.Micros(windowEnd(day))
	f := &features.Frame{
		Key:     features.NewColumn(joinKey, features.Int64, p.Keys),
		Time:    make([]int64, 0, p.Keys),
		Created: make([]int64, 0, p.Keys),
	}
	orders := features.NewColumn(featOrders, features.Int64, p.Keys)
	spend := features.NewColumn(featSpend, features.Float64, p.Keys)
	cat := features.NewColumn(featCategory, features.String, p.Keys)
	f.Columns = []*features.Column{orders, spend, cat}
	add := func(i int, created int64) {
		f.Key.Ints = append(f.Key.Ints, keyID(i))
		f.Key.Valid = append(f.Key.Valid, true)
		f.Time = append(f.Time, end)
		f.Created = append(f.Created, created)
		n := rng.Int64N(15)
		_ = orders.Append(features.IntValue(n))
		if n == 0 {
			_ = spend.Append(features.Null)
		} else {
			_ = spend.Append(features.FloatValue(float64(rng.IntN(50000)) / 100))
		}
		if rng.IntN(20) == 0 {
			_ = cat.Append(features.Null)
		} else {
			_ = cat.Append(features.StringValue(categories[rng.IntN(len(categories))]))
		}
	}
	// A run computes its window a little after the window ends.
	created := map[int]int64{}
	var rows []int
	for i := range p.Keys {
		if present(i, day) {
			c := end + 2*time.Hour.Microseconds() + rng.Int64N(time.Hour.Microseconds())
			created[i] = c
			rows = append(rows, i)
			add(i, c)
		}
	}
	// Duplicates for distinct users, each a whole number of seconds
	// (1..1800) before or after the first row's created_timestamp.
	dup := map[int]bool{}
	for len(f.Time) < p.Keys && len(dup) < len(rows) {
		i := rows[rng.IntN(len(rows))]
		if dup[i] {
			continue
		}
		dup[i] = true
		delta := (1 + rng.Int64N(1800)) * time.Second.Microseconds()
		if rng.IntN(2) == 0 {
			delta = -delta
		}
		add(i, created[i]+delta)
	}
	return f
}

// writeEntities writes the entity table: user_id (3% unknown users),
// event_timestamp spread over the history and two days either side, with
// some rows exactly on a window end or on the TTL boundary, 1% exact
// duplicate rows, and an int64 label.
func writeEntities(d dataset, p params) error {
	rng := rand.New(rand.NewPCG(p.Seed, 1<<32))
	n := p.Entities
	f := &features.Frame{Key: features.NewColumn(joinKey, features.Int64, n), Time: make([]int64, 0, n)}
	label := features.NewColumn(labelColumn, features.Int64, n)
	f.Columns = []*features.Column{label}
	lo := features.Micros(start.Add(-48 * time.Hour))
	hi := features.Micros(windowEnd(p.Days - 1).Add(48 * time.Hour))
	ttl := p.TTL.Microseconds()
	for r := range n {
		if r > 0 && rng.IntN(100) == 0 {
			j := rng.IntN(r)
			f.Key.AppendRow(f.Key, j)
			f.Time = append(f.Time, f.Time[j])
			label.AppendRow(label, j)
			continue
		}
		k := keyID(rng.IntN(p.Keys))
		if rng.IntN(100) < 3 {
			k += 3
		}
		var t int64
		end := features.Micros(windowEnd(rng.IntN(p.Days)))
		switch x := rng.IntN(100); {
		case x < 10:
			t = end
		case x < 15:
			t = end + ttl
		case x < 20:
			t = end + ttl + 1
		default:
			t = lo + rng.Int64N(hi-lo)
		}
		_ = f.Key.Append(features.IntValue(k))
		f.Time = append(f.Time, t)
		_ = label.Append(features.IntValue(rng.Int64N(2)))
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	return parquet.WriteFileAtomic(d.entities(), func(w *os.File) error {
		return parquet.WriteFrame(w, f, parquet.EventTimestamp, nil)
	})
}
