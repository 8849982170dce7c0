package parquet_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/store/parquet"
)

var demoStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func demoSources(tb testing.TB, users, days int) (*parquet.Sources, *features.Registry) {
	tb.Helper()
	reg := demo.Registry()
	src, err := parquet.OpenSources(filepath.Join(tb.TempDir(), "raw"))
	if err != nil {
		tb.Fatal(err)
	}
	frames, err := demo.Generate(demo.GenOptions{Users: users, Products: 50, Days: days, Start: demoStart})
	if err != nil {
		tb.Fatal(err)
	}
	for name, fr := range frames {
		s, _ := reg.Source(name)
		if _, err := src.Write(context.Background(), s, fr); err != nil {
			tb.Fatal(err)
		}
	}
	return src, reg
}

// rowsOf renders a frame's rows, in order, for comparison.
func rowsOf(f *features.Frame) []string {
	out := make([]string, f.Len())
	for i := range out {
		s := fmt.Sprint(f.Time[i])
		for _, c := range f.Columns {
			s += "|" + c.Value(i).String()
		}
		out[i] = s
	}
	return out
}

// ReadShard keeps exactly the rows of Read whose key falls in the shard by
// features.ShardOf, in the same order, for string and int64 keys; the
// shards together are the window.
func TestReadShardFiltersWhileDecoding(t *testing.T) {
	src, reg := demoSources(t, 200, 4)
	ctx := context.Background()
	from, to := demoStart.Add(26*time.Hour), demoStart.Add(80*time.Hour) // parts of 4 day files
	for _, c := range []struct{ source, key string }{{"orders", "user_id"}, {"orders", "product_id"}, {"page_views", "user_id"}} {
		s, _ := reg.Source(c.source)
		whole, err := src.Read(ctx, s, from, to)
		if err != nil {
			t.Fatal(err)
		}
		key := whole.Column(c.key)
		for _, n := range []int{1, 3, 4} {
			total := 0
			for i := range n {
				var rows []int
				for r := range whole.Time {
					if key.Valid[r] && features.ShardOf(key, r, n) == i {
						rows = append(rows, r)
					}
				}
				got, err := src.ReadShard(ctx, s, from, to, c.key, i, n)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(rowsOf(got), rowsOf(whole.Take(rows))) {
					t.Fatalf("%s by %s, shard %d of %d: %d rows, want %d (or another order)", c.source, c.key, i, n, got.Len(), len(rows))
				}
				total += got.Len()
			}
			if total != whole.Len() || total == 0 {
				t.Fatalf("%s by %s: %d shards hold %d rows, the window %d", c.source, c.key, n, total, whole.Len())
			}
		}
	}
	s, _ := reg.Source("orders")
	if _, err := src.ReadShard(ctx, s, from, to, "nope", 0, 2); err == nil {
		t.Fatal("a key column the source lacks was accepted")
	}
	if _, err := src.ReadShard(ctx, s, from, to, "user_id", 2, 2); err == nil {
		t.Fatal("shard 2 of 2 was accepted")
	}
}

// peakHeap runs fn while sampling the live heap, and returns the highest
// HeapAlloc seen above the heap before fn.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// BenchmarkReadShard reads one shard of a 7-day page_views window (one
// user_activity-like input: a day file per day) and reports the peak live
// heap over the read: it shrinks with the shard count.
func BenchmarkReadShard(b *testing.B) {
	src, reg := demoSources(b, 20000, 7)
	s, _ := reg.Source("page_views")
	from, to := demoStart, demoStart.Add(7*24*time.Hour)
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("shards=%d", n), func(b *testing.B) {
			var peak uint64
			var rows int
			for b.Loop() {
				peak = max(peak, peakHeap(func() {
					fr, err := src.ReadShard(context.Background(), s, from, to, "user_id", 0, n)
					if err != nil {
						b.Fatal(err)
					}
					rows = fr.Len()
				}))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(rows), "rows")
		})
	}
	// The baseline: what a shard cost before ReadShard, the whole window
	// decoded, then filtered.
	b.Run("shards=4/read-whole-then-filter", func(b *testing.B) {
		var peak uint64
		var rows int
		for b.Loop() {
			peak = max(peak, peakHeap(func() {
				fr, err := src.Read(context.Background(), s, from, to)
				if err != nil {
					b.Fatal(err)
				}
				key := fr.Column("user_id")
				var keep []int
				for r := range fr.Time {
					if key.Valid[r] && features.ShardOf(key, r, 4) == 0 {
						keep = append(keep, r)
					}
				}
				rows = fr.Take(keep).Len()
			}))
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(rows), "rows")
	})
}
