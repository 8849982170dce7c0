package gcsfs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/skewfree/skewfree/internal/fakegcs"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/store/parquet/gcsfs"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fake starts a fake GCS with bucket "b" and opens gs://b/<prefix> on it;
// wrap, when set, wraps the client's transport.
func fake(t *testing.T, prefix string, wrap func(http.RoundTripper) http.RoundTripper) (*gcsfs.FS, *fakegcs.Server) {
	t.Helper()
	srv, err := fakegcs.Start("b")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	c, err := srv.Client(context.Background(), wrap)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f, err := gcsfs.Open(context.Background(), "gs://b/"+prefix, gcsfs.Options{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	return f, srv
}

func write(t *testing.T, f parquet.FS, name string, mode parquet.WriteMode, data string) error {
	t.Helper()
	return f.WriteFile(context.Background(), name, mode, func(w io.Writer) error {
		_, err := io.WriteString(w, data)
		return err
	})
}

func TestFSBasics(t *testing.T) {
	ctx := context.Background()
	f, _ := fake(t, "pre/fix", nil)
	if got := f.Location("v/date=2026-11-20/x.parquet"); got != "gs://b/pre/fix/v/date=2026-11-20/x.parquet" {
		t.Fatalf("location %s", got)
	}
	for _, n := range []string{"v/date=2026-11-20/a.parquet", "v/date=2026-11-21/b.parquet", "v/top.parquet", "v/_published/m.json"} {
		if err := write(t, f, n, parquet.Replace, "data of "+n); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := f.List(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name+map[bool]string{true: "/"}[e.Dir])
	}
	slices.Sort(got)
	if want := []string{"_published/", "date=2026-11-20/", "date=2026-11-21/", "top.parquet"}; !slices.Equal(got, want) {
		t.Fatalf("list %v, want %v", got, want)
	}
	if _, err := f.List(ctx, "nothing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("list of an empty prefix: %v, want ErrNotExist", err)
	}
	b, err := f.ReadFile(ctx, "v/top.parquet")
	if err != nil || string(b) != "data of v/top.parquet" {
		t.Fatalf("read %q, %v", b, err)
	}
	if n, err := f.Stat(ctx, "v/top.parquet"); err != nil || n != int64(len("data of v/top.parquet")) {
		t.Fatalf("stat %d, %v", n, err)
	}
	if _, err := f.ReadFile(ctx, "v/none"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "gs://b/pre/fix/v/none") {
		t.Fatalf("missing object: %v", err)
	}
	if err := f.Remove(ctx, "v/top.parquet"); err != nil {
		t.Fatal(err)
	}
	if err := f.Remove(ctx, "v/top.parquet"); err != nil {
		t.Fatalf("removing a missing object: %v", err)
	}
	if _, err := f.Stat(ctx, "v/top.parquet"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("removed object: %v", err)
	}
}

// Writes: Create keeps the first object (DoesNotExist precondition),
// Replace swaps it whole, a failing writer leaves nothing (or the old
// object) behind.
func TestFSWritePreconditions(t *testing.T) {
	ctx := context.Background()
	f, _ := fake(t, "", nil)
	if err := write(t, f, "m.json", parquet.Create, "first"); err != nil {
		t.Fatal(err)
	}
	if err := write(t, f, "m.json", parquet.Create, "second"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second create: %v, want ErrExist", err)
	}
	if b, _ := f.ReadFile(ctx, "m.json"); string(b) != "first" {
		t.Fatalf("marker %q, want the first", b)
	}
	if err := write(t, f, "p.parquet", parquet.Replace, "one"); err != nil {
		t.Fatal(err)
	}
	if err := write(t, f, "p.parquet", parquet.Replace, "two"); err != nil {
		t.Fatal(err)
	}
	if b, _ := f.ReadFile(ctx, "p.parquet"); string(b) != "two" {
		t.Fatalf("replaced %q, want two", b)
	}
	boom := errors.New("boom")
	for _, name := range []string{"p.parquet", "new.parquet"} {
		err := f.WriteFile(ctx, name, parquet.Replace, func(w io.Writer) error {
			w.Write(bytes.Repeat([]byte("x"), 1<<20))
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("failed write: %v", err)
		}
	}
	if b, _ := f.ReadFile(ctx, "p.parquet"); string(b) != "two" {
		t.Fatalf("after a failed rewrite %q, want the old content", b)
	}
	if _, err := f.Stat(ctx, "new.parquet"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed write left an object: %v", err)
	}
}

// A Replace that loses a race (the object changed between its look and its
// upload) retries over the new generation: one object, the last content.
func TestFSReplaceRetriesOnRace(t *testing.T) {
	ctx := context.Background()
	var f *gcsfs.FS
	var raced atomic.Bool
	f, _ = fake(t, "", func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			// Just before our first conditional upload, another writer
			// replaces the object.
			if r.Method == http.MethodPost && strings.Contains(r.URL.RawQuery, "ifGenerationMatch") && raced.CompareAndSwap(false, true) {
				if err := write(t, f, "p.parquet", parquet.Replace, "theirs"); err != nil {
					t.Error(err)
				}
			}
			return rt.RoundTrip(r)
		})
	})
	if err := write(t, f, "p.parquet", parquet.Replace, "first"); err != nil {
		t.Fatal(err)
	}
	if err := write(t, f, "p.parquet", parquet.Replace, "ours"); err != nil {
		t.Fatal(err)
	}
	if !raced.Load() {
		t.Fatal("the race was not staged")
	}
	if b, _ := f.ReadFile(ctx, "p.parquet"); string(b) != "ours" {
		t.Fatalf("%q, want ours", b)
	}
}

func TestOpenNamesMissingBucketAndPermission(t *testing.T) {
	srv, err := fakegcs.Start("b")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	ctx := context.Background()
	c, _ := srv.Client(ctx, nil)
	defer c.Close()
	if _, err := gcsfs.Open(ctx, "gs://nope/x", gcsfs.Options{Client: c}); err == nil || !strings.Contains(err.Error(), `bucket "nope" does not exist`) {
		t.Fatalf("missing bucket: %v", err)
	}
	denied, _ := srv.Client(ctx, func(http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			body := `{"error":{"code":403,"message":"caller does not have storage.objects.list access"}}`
			return &http.Response{StatusCode: 403, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		})
	})
	defer denied.Close()
	if _, err := gcsfs.Open(ctx, "gs://b/x", gcsfs.Options{Client: denied}); err == nil || !strings.Contains(err.Error(), `permission denied on bucket "b"`) {
		t.Fatalf("no permission: %v", err)
	}
	for _, bad := range []string{"gs://", "s3://b/x", "gs:///x"} {
		if _, err := gcsfs.Open(ctx, bad, gcsfs.Options{Client: c}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// With no client given, Open makes one as Google's clients do: pointed at
// STORAGE_EMULATOR_HOST when set; range reads of a pinned generation work
// through it.
func TestEmulatorHostAndRangeReads(t *testing.T) {
	srv, err := fakegcs.Start("b")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	t.Setenv("STORAGE_EMULATOR_HOST", srv.Host())
	ctx := context.Background()
	f, err := gcsfs.Open(ctx, "gs://b/p", gcsfs.Options{MinFetch: 1024, ReadAhead: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := write(t, f, "x.bin", parquet.Replace, string(data)); err != nil {
		t.Fatal(err)
	}
	o, err := f.Open(ctx, "x.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Size() != int64(len(data)) {
		t.Fatalf("size %d", o.Size())
	}
	before := f.Stats().BytesFetched.Load()
	buf := make([]byte, 100)
	for _, off := range []int64{10, 110, 5000, 150 << 10} {
		if _, err := o.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, data[off:off+100]) {
			t.Fatalf("bytes at %d differ", off)
		}
	}
	if got := f.Stats().BytesFetched.Load() - before; got > 16<<10 {
		t.Fatalf("four 100-byte reads fetched %d bytes", got)
	}
	if err := o.(parquet.Prefetcher).Prefetch([]parquet.ByteRange{{Off: 200 << 10, Len: 1000}, {Off: 200<<10 + 1500, Len: 10}}); err != nil {
		t.Fatal(err)
	}
	reads := f.Stats().RangeReads.Load()
	if _, err := o.ReadAt(buf[:10], 200<<10+1500); err != nil || !bytes.Equal(buf[:10], data[200<<10+1500:200<<10+1510]) {
		t.Fatalf("prefetched read: %v", err)
	}
	if f.Stats().RangeReads.Load() != reads {
		t.Fatal("a prefetched range was fetched again")
	}
	// The generation is pinned: after a rewrite, buffered bytes still read,
	// and a read that needs the old generation fails, never mixing contents.
	if err := write(t, f, "x.bin", parquet.Replace, "short"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.ReadAt(buf[:100], 200<<10); err != nil || !bytes.Equal(buf, data[200<<10:200<<10+100]) {
		t.Fatalf("buffered read after a rewrite: %v", err)
	}
	if _, err := o.ReadAt(buf, 100<<10); !errors.Is(err, gcsfs.ErrChanged) {
		t.Fatalf("read of a replaced generation: %v, want ErrChanged", err)
	}
}

// Names are checked by path segment: "train..v2.parquet" is a name a user
// may give --out; "a/../b" escapes the prefix and is refused.
func TestObjectNamesBySegment(t *testing.T) {
	f, _ := fake(t, "", nil)
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"train..v2.parquet", true},
		{"dir/x..y/part.parquet", true},
		{"a/../b.parquet", false},
		{"../b.parquet", false},
		{"/abs.parquet", false},
	} {
		err := write(t, f, tc.name, parquet.Replace, "x")
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v, want accepted: %v", tc.name, err, tc.ok)
		}
	}
}
