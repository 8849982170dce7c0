package activities_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	goparquet "github.com/parquet-go/parquet-go"
	goredis "github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/testsuite"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/store/parquet"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// benchRegistry: one daily view over an int64-keyed event source, with a
// count, a sum, a mean and a last.
func benchRegistry(b *testing.B) *features.Registry {
	reg := features.NewRegistry()
	err := reg.Register(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.Int64},
		&features.Source{Name: "events", Path: "events", TimestampField: "ts", Fields: []features.Field{
			{Name: "user_id", Type: features.Int64}, {Name: "amount", Type: features.Float64}, {Name: "kind", Type: features.String}}},
		&features.View{Name: "user_daily", Entity: "user", Source: "events", Cadence: features.Daily, TTL: 0, Owner: "o", Description: "d",
			Aggregations: []features.Aggregation{
				{Name: "n_1d", Kind: features.Count, Window: 24 * time.Hour},
				{Name: "amount_1d", Kind: features.Sum, Column: "amount", Window: 24 * time.Hour},
				{Name: "avg_amount_1d", Kind: features.Mean, Column: "amount", Window: 24 * time.Hour},
				{Name: "last_kind_1d", Kind: features.Last, Column: "kind", Window: 24 * time.Hour}}},
	)
	if err != nil {
		b.Fatal(err)
	}
	return reg
}

// BenchmarkMaterializeWindow runs the two activities of one window —
// ComputeWindow (read the source window, transform, write the offline
// partition) and PushOnline (read it back, monotonic writes to Redis) — and,
// in the same run, the limit they are measured against: the same output rows
// written by plain parquet-go and by a raw go-redis pipeline of SET with the
// same bytes. events defaults to 1M; SKEWFREE_BENCH_EVENTS=10000000 runs the
// issue's size.
func BenchmarkMaterializeWindow(b *testing.B) {
	events := 1_000_000
	if s := os.Getenv("SKEWFREE_BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		events = n
	}
	srv := testenv.StartRedis(b)
	rc := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	b.Cleanup(func() { rc.Close() })
	reg := benchRegistry(b)
	dir := b.TempDir()
	end := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	keys := max(events/10, 1)

	src, _ := parquet.OpenSources(filepath.Join(dir, "raw"))
	rng := rand.New(rand.NewPCG(5, 5))
	ev := &features.Frame{Time: make([]int64, events)}
	uid := features.NewColumn("user_id", features.Int64, events)
	amount := features.NewColumn("amount", features.Float64, events)
	kind := features.NewColumn("kind", features.String, events)
	kinds := []string{"view", "cart", "buy", "refund"}
	dayUS := (24 * time.Hour).Microseconds()
	for i := range events {
		// Two days of events: the window's input range is one lookback plus
		// one cadence.
		ev.Time[i] = features.Micros(end) - 2*dayUS + int64(i)*(2*dayUS)/int64(events)
		_ = uid.Append(features.IntValue(rng.Int64N(int64(keys))))
		_ = amount.Append(features.FloatValue(float64(rng.IntN(10000)) / 100))
		_ = kind.Append(features.StringValue(kinds[rng.IntN(len(kinds))]))
	}
	ev.Columns = []*features.Column{uid, amount, kind}
	s, _ := reg.Source("events")
	if _, err := src.Write(context.Background(), s, ev); err != nil {
		b.Fatal(err)
	}
	off, _ := parquet.Open(filepath.Join(dir, "offline"))
	online, err := redisstore.New(rc, reg, redisstore.Options{Prefix: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	a := &activities.Activities{Registry: reg, Sources: src, Offline: off, Online: redisOnline{online}}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)

	b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) {
		var ours, base, push time.Duration
		var rows int64
		for i := 0; b.Loop(); i++ {
			ctx := context.Background()
			rc.FlushAll(ctx)
			t0 := time.Now()
			created := end.Add(time.Duration(i+1) * time.Second)
			v, err := env.ExecuteActivity(a.ComputeWindow, activities.ComputeInput{View: "user_daily", WindowEnd: end, Created: created, Shard: -1})
			if err != nil {
				b.Fatal(err)
			}
			var out activities.ComputeOutput
			if err := v.Get(&out); err != nil {
				b.Fatal(err)
			}
			tp := time.Now()
			if _, err := env.ExecuteActivity(a.PushOnline, activities.PushInput{View: "user_daily", Partition: out.Partition}); err != nil {
				b.Fatal(err)
			}
			push += time.Since(tp)
			ours += time.Since(t0)
			rows = out.Partition.Rows

			// The limit: the same rows, already computed, written plainly.
			b.StopTimer()
			fr := readPartition(b, filepath.Join(off.Root(), out.Partition.Path))
			rc.FlushAll(ctx)
			b.StartTimer()
			t1 := time.Now()
			plainWrite(b, ctx, rc, reg, fr, filepath.Join(dir, "plain.parquet"))
			base += time.Since(t1)
		}
		n := float64(b.N)
		b.ReportMetric(float64(events)*n/ours.Seconds(), "events-in/s")
		b.ReportMetric(float64(rows)*n/ours.Seconds(), "rows-out/s")
		b.ReportMetric(float64(rows)*n/base.Seconds(), "baseline-rows/s")
		b.ReportMetric(base.Seconds()/ours.Seconds(), "fraction-of-limit")
		b.ReportMetric(push.Seconds()/ours.Seconds(), "push-share")
	})
}

type redisOnline struct{ s *redisstore.Store }

func (o redisOnline) Write(ctx context.Context, view string, f *features.Frame) (activities.OnlineStats, error) {
	st, err := o.s.Write(ctx, view, f)
	return activities.OnlineStats{Rows: st.Rows, Written: st.Written, Stale: st.Stale, Expired: st.Expired}, err
}

func readPartition(b *testing.B, path string) *features.Frame {
	fields := []features.Field{{Name: "n_1d", Type: features.Int64}, {Name: "amount_1d", Type: features.Float64},
		{Name: "avg_amount_1d", Type: features.Float64}, {Name: "last_kind_1d", Type: features.String}}
	out, err := parquet.ReadFile(path, parquet.FrameSpec{Key: "user_id", KeyType: features.Int64, Time: parquet.EventTimestamp, Created: true, Columns: fields})
	if err != nil {
		b.Fatal(err)
	}
	return out
}

type plainRow struct {
	UserID  int64     `parquet:"user_id"`
	Event   time.Time `parquet:"event_timestamp,timestamp(microsecond)"`
	Created time.Time `parquet:"created_timestamp,timestamp(microsecond)"`
	N       *int64    `parquet:"n_1d,optional"`
	Amount  *float64  `parquet:"amount_1d,optional"`
	Avg     *float64  `parquet:"avg_amount_1d,optional"`
	Kind    *string   `parquet:"last_kind_1d,optional"`
}

// plainWrite is the baseline: parquet-go's generic writer, then SET of the
// same encoded values in pipelines of the store's batch size.
func plainWrite(b *testing.B, ctx context.Context, rc *goredis.Client, reg *features.Registry, fr *features.Frame, path string) {
	rows := make([]plainRow, fr.Len())
	vals := make([]features.Value, len(fr.Columns))
	pipe := rc.Pipeline()
	var buf []byte
	for i := range rows {
		n, amt, avg, kind := fr.Columns[0].Ints[i], fr.Columns[1].Floats[i], fr.Columns[2].Floats[i], fr.Columns[3].Strings[i]
		rows[i] = plainRow{UserID: fr.Key.Ints[i], Event: features.FromMicros(fr.Time[i]), Created: features.FromMicros(fr.Created[i]),
			N: &n, Amount: &amt, Avg: &avg, Kind: &kind}
	}
	fh, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := goparquet.Write(fh, rows); err != nil {
		b.Fatal(err)
	}
	fh.Close()
	fp := reg.Fingerprint("user_daily")
	for i := range rows {
		for k, c := range fr.Columns {
			vals[k] = c.Value(i)
		}
		buf, err = onlinecodec.Append(buf[:0], onlinecodec.Header{EventMicros: fr.Time[i], CreatedMicros: fr.Created[i], Fingerprint: fp}, vals)
		if err != nil {
			b.Fatal(err)
		}
		pipe.Set(ctx, onlinecodec.Key("plain", "user_daily", features.Int64, fr.Key.KeyAt(i)), string(buf), 0)
		if pipe.Len() == 512 || i == len(rows)-1 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}
