package servedlog_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/servedlog"
)

var reg = testenv.WideRegistry(1, 4, 0) // wide_0: f00 int64, f01 float64, f02 string, f03 bool

var refs = []features.FeatureRef{{View: "wide_0", Feature: "f00"}, {View: "wide_0", Feature: "f02"}}

// result is what the reader answers for users: f00 = i, f02 PRESENT for
// even rows and NOT_FOUND for odd ones.
func result(at time.Time, users ...string) (serving.Entities, *serving.Result) {
	res := &serving.Result{Features: refs, JoinKeys: []string{"user_id"}}
	for i := range users {
		row := []serving.FeatureValue{{Value: features.IntValue(int64(i)), Status: serving.Present, EventTime: at.Add(-time.Hour)}, {}}
		if i%2 == 0 {
			row[1] = serving.FeatureValue{Value: features.StringValue("s" + users[i]), Status: serving.Present, EventTime: at.Add(-2 * time.Hour)}
		}
		res.Rows = append(res.Rows, row)
	}
	return serving.Entities{"user_id": serving.StringKeys(users...)}, res
}

func users(n int) []string {
	u := make([]string, n)
	for i := range u {
		u[i] = fmt.Sprintf("u%06d", i)
	}
	return u
}

func TestSampling(t *testing.T) {
	keys := users(100_000)
	for _, tc := range []struct {
		rate     float64
		min, max int
	}{{0, 0, 0}, {1, len(keys), len(keys)}, {0.01, 800, 1200}, {0.5, 49_000, 51_000}} {
		n := 0
		for _, k := range keys {
			in := servedlog.Sampled(features.StringValue(k), tc.rate)
			if in != servedlog.Sampled(features.StringValue(k), tc.rate) {
				t.Fatalf("rate %v: %s sampled differently twice", tc.rate, k)
			}
			// Raising the rate only adds keys.
			if in && !servedlog.Sampled(features.StringValue(k), tc.rate*2) {
				t.Fatalf("%s is in at %v but out at %v", k, tc.rate, tc.rate*2)
			}
			if in {
				n++
			}
		}
		if n < tc.min || n > tc.max {
			t.Errorf("rate %v: %d of %d keys sampled, want %d..%d", tc.rate, n, len(keys), tc.min, tc.max)
		}
	}
	if servedlog.Sampled(features.IntValue(42), 0.5) != servedlog.Sampled(features.IntValue(42), 0.5) {
		t.Fatal("int key sampled differently twice")
	}
}

// At 1%, the logger logs exactly the keys Sampled names, every request of
// each, and nothing at 0%.
func TestLoggerSamplesByKey(t *testing.T) {
	at := time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC)
	keys := users(5000)
	for _, rate := range []float64{0, 0.01, 1} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			dir := t.TempDir()
			l, err := servedlog.New(reg, servedlog.Dir(dir), servedlog.Options{Rate: rate, FlushInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int{}
			for req := range 3 { // three requests for every key, in batches of 100
				for lo := 0; lo < len(keys); lo += 100 {
					ents, res := result(at.Add(time.Duration(req)*time.Second), keys[lo:lo+100]...)
					l.Served(at, ents, res)
				}
			}
			for _, k := range keys {
				if servedlog.Sampled(features.StringValue(k), rate) {
					want[k] = 3
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, lg := range readAll(t, dir) {
				for i := range lg.Len() {
					got[lg.JoinKeys[0].Strings[i]]++
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("logged %d keys, want %d (sampled by key, every request)", len(got), len(want))
			}
			if rate == 0.01 && (len(want) < 20 || len(want) > 80) {
				t.Fatalf("%d of %d keys at 1%%", len(want), len(keys))
			}
			if st := l.Stats(); st.Written != uint64(3*len(want)) || st.Dropped != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func readAll(t *testing.T, dir string) []*servedlog.Log {
	t.Helper()
	files, err := servedlog.Files(context.Background(), dir, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*servedlog.Log
	for _, f := range files {
		lg, err := servedlog.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lg)
	}
	return out
}

// blockingWriter holds every write until release is closed.
type blockingWriter struct {
	servedlog.Dir
	entered chan struct{}
	once    sync.Once
	release chan struct{}
}

func (b *blockingWriter) WriteFile(ctx context.Context, name string, write func(io.Writer) error) error {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	return b.Dir.WriteFile(ctx, name, write)
}

// A full buffer drops rows and counts them; Served never waits for the
// writer, even when the writer hangs.
func TestFullBufferDropsAndNeverBlocks(t *testing.T) {
	w := &blockingWriter{Dir: servedlog.Dir(t.TempDir()), entered: make(chan struct{}), release: make(chan struct{})}
	l, err := servedlog.New(reg, w, servedlog.Options{Rate: 1, BufferRows: 10, FlushRows: 1, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC)
	ents, res := result(at, "a")
	l.Served(at, ents, res)
	<-w.entered // the writer now hangs on the first row
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			l.Served(at, ents, res)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Served blocked on a hanging writer")
	}
	st := l.Stats()
	if st.Logged+st.Dropped != 1001 || st.Dropped < 990 || st.Logged > 11 || st.Pending > 10 {
		t.Fatalf("stats %+v: want 1001 rows, at most 10 buffered, the rest dropped", st)
	}
	close(w.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st = l.Stats()
	if st.Written != st.Logged || st.Pending != 0 {
		t.Fatalf("after Close: %+v: every accepted row must be written", st)
	}
	n := 0
	for _, lg := range readAll(t, string(w.Dir)) {
		n += lg.Len()
	}
	if uint64(n) != st.Written {
		t.Fatalf("%d rows in files, %d written", n, st.Written)
	}
}

// Close writes what is buffered (no flush happened before: huge limits),
// and the file holds what was served, value by value.
func TestCloseFlushesEverything(t *testing.T) {
	dir := t.TempDir()
	l, err := servedlog.New(reg, servedlog.Dir(dir), servedlog.Options{Rate: 1, FlushRows: 1 << 20, FlushInterval: time.Hour, BufferRows: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 23, 59, 59, 0, time.UTC)
	var wantKeys []string
	for i := range 50 {
		t0 := at.Add(time.Duration(i) * 100 * time.Millisecond) // crosses midnight
		us := users(4)
		ents, res := result(t0, us...)
		l.Served(t0, ents, res)
		wantKeys = append(wantKeys, us...)
	}
	if n := len(readAll(t, dir)); n != 0 {
		t.Fatalf("%d files before Close", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	logs := readAll(t, dir)
	if len(logs) != 2 {
		t.Fatalf("%d files, want one per date (the requests cross midnight)", len(logs))
	}
	var n int
	for _, lg := range logs {
		day := time.UnixMicro(lg.Times[0]).UTC().Format(time.DateOnly)
		if !strings.Contains(lg.Path, "date="+day+string(filepath.Separator)) {
			t.Errorf("%s holds rows of %s", lg.Path, day)
		}
		if fmt.Sprint(lg.Features) != fmt.Sprint(refs) || lg.JoinKeys[0].Name != "user_id" {
			t.Fatalf("features %v keys %v", lg.Features, lg.JoinKeys[0].Name)
		}
		for i := range lg.Len() {
			at := time.UnixMicro(lg.Times[i]).UTC()
			k := lg.JoinKeys[0].Strings[i]
			row := n % 4
			if k != wantKeys[n] || lg.Values[0].Value(i) != features.IntValue(int64(row)) || lg.Status[0][i] != serving.Present ||
				lg.EventTimes[0].Ints[i] != features.Micros(at.Add(-time.Hour)) {
				t.Fatalf("row %d: %s %v %v %v", n, k, lg.Values[0].Value(i), lg.Status[0][i], lg.EventTimes[0].Value(i))
			}
			if row%2 == 1 && (lg.Status[1][i] != serving.NotFound || !lg.Values[1].Value(i).IsNull() || lg.EventTimes[1].Valid[i]) {
				t.Fatalf("row %d: a NOT_FOUND feature reads back %v %v %v", n, lg.Status[1][i], lg.Values[1].Value(i), lg.EventTimes[1].Value(i))
			}
			if row%2 == 0 && lg.Values[1].Value(i).Str() != "s"+k {
				t.Fatalf("row %d: %v", n, lg.Values[1].Value(i))
			}
			n++
		}
	}
	if n != len(wantKeys) {
		t.Fatalf("%d rows after Close, want %d", n, len(wantKeys))
	}
	// After Close, rows are dropped and counted, never written or panicking.
	ents, res := result(at, "late")
	l.Served(at, ents, res)
	if st := l.Stats(); st.Dropped != 1 {
		t.Fatalf("after Close: %+v", st)
	}
}

// failingWriter fails its first write: by a panic, or by an error after
// half a file.
type failingWriter struct {
	servedlog.Dir
	panic bool
	mu    sync.Mutex
	n     int
}

func (f *failingWriter) WriteFile(ctx context.Context, name string, write func(io.Writer) error) error {
	f.mu.Lock()
	f.n++
	first := f.n == 1
	f.mu.Unlock()
	if !first {
		return f.Dir.WriteFile(ctx, name, write)
	}
	if f.panic {
		panic("disk on fire")
	}
	return f.Dir.WriteFile(ctx, name, func(w io.Writer) error {
		if _, err := w.Write([]byte("PAR1 half a file")); err != nil {
			return err
		}
		return errors.New("connection reset")
	})
}

// A failed write (a panic in the writer included) is a logged, counted
// error: the logger goes on, a reader never sees the half-written file, and
// Close reports it.
func TestWriteFailureAndPanic(t *testing.T) {
	for _, panics := range []bool{false, true} {
		t.Run(fmt.Sprintf("panic=%v", panics), func(t *testing.T) {
			dir := t.TempDir()
			l, err := servedlog.New(reg, &failingWriter{Dir: servedlog.Dir(dir), panic: panics}, servedlog.Options{Rate: 1, FlushRows: 2, FlushInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC)
			ents, res := result(at, "a", "b")
			l.Served(at, ents, res) // the first file: fails
			l.Served(at, ents, res) // the second: written
			err = l.Close()
			if err == nil || !strings.Contains(err.Error(), map[bool]string{false: "connection reset", true: "disk on fire"}[panics]) {
				t.Fatalf("Close: %v", err)
			}
			if st := l.Stats(); st.Errors != 1 || st.Failed != 2 || st.Written != 2 || st.Pending != 0 {
				t.Fatalf("stats %+v", st)
			}
			logs := readAll(t, dir)
			if len(logs) != 1 || logs[0].Len() != 2 {
				t.Fatalf("files %d", len(logs))
			}
			// Nothing else is visible, not even under another name.
			var names []string
			_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					names = append(names, d.Name())
				}
				return nil
			})
			if len(names) != 1 {
				t.Fatalf("files left behind: %v", names)
			}
		})
	}
}

// Two replicas logging the same instant into one folder never overwrite
// each other's files.
func TestReplicaFileNamesNeverCollide(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC)
	for range 2 {
		l, err := servedlog.New(reg, servedlog.Dir(dir), servedlog.Options{Rate: 1})
		if err != nil {
			t.Fatal(err)
		}
		ents, res := result(at, "a")
		l.Served(at, ents, res)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(readAll(t, dir)); n != 2 {
		t.Fatalf("%d files from two replicas, want 2", n)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []servedlog.Options{{Rate: -0.1}, {Rate: 1.5}, {Rate: 0.5, BufferRows: -1}, {Instance: "a/b"}} {
		if _, err := servedlog.New(reg, servedlog.Dir(t.TempDir()), o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

// Close while requests are being logged: every row accepted before Close
// is written, every other one counted as dropped, nothing panics.
func TestCloseDuringTraffic(t *testing.T) {
	dir := t.TempDir()
	l, err := servedlog.New(reg, servedlog.Dir(dir), servedlog.Options{Rate: 1, FlushRows: 50, BufferRows: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	const goroutines, requests = 4, 500
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ents, res := result(at, fmt.Sprintf("g%d", g))
			for range requests {
				l.Served(at, ents, res)
			}
		}()
	}
	time.Sleep(time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	st := l.Stats()
	n := 0
	for _, lg := range readAll(t, dir) {
		n += lg.Len()
	}
	if st.Logged+st.Dropped != goroutines*requests || st.Written != st.Logged || uint64(n) != st.Logged || st.Pending != 0 {
		t.Fatalf("stats %+v, %d rows in files", st, n)
	}
}
