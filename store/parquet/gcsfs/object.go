package gcsfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"cloud.google.com/go/storage"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// Open implements parquet.FS: the object's generation is pinned at open, so
// a file replaced while it is read (a retried run) cannot mix two contents.
// The last bytes (where Parquet keeps its footer) are fetched at once.
func (f *FS) Open(ctx context.Context, name string) (parquet.Object, error) {
	o, err := f.obj(name)
	if err != nil {
		return nil, err
	}
	a, err := o.Attrs(ctx)
	if err != nil {
		return nil, f.wrap("open", name, err)
	}
	obj := &object{ctx: ctx, fs: f, name: name, gen: a.Generation, h: o.Generation(a.Generation), size: a.Size}
	if tail := min(a.Size, 64<<10); tail > 0 {
		if err := obj.fetchTail(a.Size - tail); err != nil {
			return nil, err
		}
	}
	return obj, nil
}

// ErrChanged marks a read of an object whose generation, pinned when it
// was opened, is gone: the object was replaced or deleted meanwhile.
var ErrChanged = errors.New("object changed while being read")

// object reads one generation of an object by range requests through a
// buffer:
//   - Prefetch (File asks for the column chunks a row group's read needs)
//     fetches those ranges, adjacent ones coalesced, in parallel, replacing
//     the previous prefetch;
//   - any other read that misses fetches at least MinFetch bytes and, while
//     reads go on in order, twice as much as last time, up to ReadAhead.
//
// Safe for concurrent use (one lock; reads that hit copy from memory).
type object struct {
	ctx  context.Context
	fs   *FS
	name string
	gen  int64
	h    *storage.ObjectHandle
	size int64

	mu       sync.Mutex
	tail     *chunk   // the footer's bytes, kept for the file's life
	prefetch []*chunk // sorted by offset, from the last Prefetch
	misses   []*chunk // the last few miss fetches, newest last
	nextAt   int64    // where the last miss fetch ended
	ahead    int64    // the next miss fetch's read-ahead
}

type chunk struct {
	off  int64
	data []byte
}

func (c *chunk) has(off int64) bool { return off >= c.off && off < c.off+int64(len(c.data)) }

const keepMisses = 4

// Size implements parquet.Object.
func (o *object) Size() int64 { return o.size }

// Close implements parquet.Object.
func (o *object) Close() error {
	o.mu.Lock()
	o.tail, o.prefetch, o.misses = nil, nil, nil
	o.mu.Unlock()
	return nil
}

// ReadAt implements io.ReaderAt.
func (o *object) ReadAt(p []byte, off int64) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for n < len(p) {
		at := off + int64(n)
		if at >= o.size {
			return n, io.EOF
		}
		if c := o.find(at); c != nil {
			n += copy(p[n:], c.data[at-c.off:])
			continue
		}
		want := int64(len(p) - n)
		if at == o.nextAt {
			o.ahead = min(max(2*o.ahead, o.fs.opt.MinFetch), o.fs.opt.ReadAhead)
		} else {
			o.ahead = 0
		}
		length := max(want+o.ahead, o.fs.opt.MinFetch)
		// Stop at the next buffered byte: never fetch a range twice.
		if next := o.nextBuffered(at); next > at {
			length = min(length, max(next-at, want))
		}
		length = min(length, o.size-at)
		data, err := o.get(at, length)
		if err != nil {
			return n, err
		}
		o.misses = append(o.misses, &chunk{at, data})
		if len(o.misses) > keepMisses {
			o.misses = o.misses[1:]
		}
		o.nextAt = at + length
	}
	return n, nil
}

func (o *object) find(at int64) *chunk {
	if o.tail != nil && o.tail.has(at) {
		return o.tail
	}
	for _, c := range o.prefetch {
		if c.has(at) {
			return c
		}
	}
	for _, c := range slices.Backward(o.misses) {
		if c.has(at) {
			return c
		}
	}
	return nil
}

// nextBuffered is the offset of the first buffered chunk starting after
// at, or -1.
func (o *object) nextBuffered(at int64) int64 {
	next := int64(-1)
	consider := func(c *chunk) {
		if c != nil && c.off > at && (next < 0 || c.off < next) {
			next = c.off
		}
	}
	consider(o.tail)
	for _, c := range o.prefetch {
		consider(c)
	}
	return next
}

// get fetches [off, off+length) of the pinned generation: one request.
func (o *object) get(off, length int64) ([]byte, error) {
	r, err := o.h.NewRangeReader(o.ctx, off, length)
	if errors.Is(err, storage.ErrObjectNotExist) {
		// Never mix two contents: the reader fails, a retry reads the new one.
		return nil, fmt.Errorf("gcs: read %s: generation %d was replaced or deleted while being read: %w",
			o.fs.Location(o.name), o.gen, ErrChanged)
	}
	if err != nil {
		return nil, o.fs.wrap("read", o.name, err)
	}
	defer r.Close()
	buf := make([]byte, length)
	n, err := io.ReadFull(r, buf)
	o.fs.stats.RangeReads.Add(1)
	o.fs.stats.BytesFetched.Add(int64(n))
	if err != nil {
		return nil, o.fs.wrap("read", o.name, fmt.Errorf("range %d+%d: %w", off, length, err))
	}
	return buf, nil
}

// fetchTail fetches [off, size) as the tail chunk (Open).
func (o *object) fetchTail(off int64) error {
	data, err := o.get(off, o.size-off)
	if err != nil {
		return err
	}
	o.tail = &chunk{off, data}
	return nil
}

// coalesceGap: ranges closer than this are fetched as one.
const coalesceGap = 64 << 10

// Prefetch implements parquet.Prefetcher.
func (o *object) Prefetch(ranges []parquet.ByteRange) (err error) {
	rs := slices.Clone(ranges)
	slices.SortFunc(rs, func(a, b parquet.ByteRange) int { return int(a.Off - b.Off) })
	var merged []parquet.ByteRange
	for _, r := range rs {
		if r.Len <= 0 || r.Off >= o.size {
			continue
		}
		r.Len = min(r.Len, o.size-r.Off)
		if n := len(merged); n > 0 && r.Off <= merged[n-1].Off+merged[n-1].Len+coalesceGap {
			last := &merged[n-1]
			last.Len = max(last.Len, r.Off+r.Len-last.Off)
			continue
		}
		merged = append(merged, r)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	// Drop what the tail already holds.
	var need []parquet.ByteRange
	for _, r := range merged {
		if o.tail != nil && r.Off >= o.tail.off {
			continue
		}
		if o.tail != nil && r.Off+r.Len > o.tail.off {
			r.Len = o.tail.off - r.Off
		}
		need = append(need, r)
	}
	chunks := make([]*chunk, len(need))
	errs := make([]error, len(need))
	var wg sync.WaitGroup
	for i, r := range need {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer features.RecoverPanic(&errs[i], "gcs: prefetch "+o.fs.Location(o.name))
			data, err := o.get(r.Off, r.Len)
			chunks[i], errs[i] = &chunk{r.Off, data}, err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	o.prefetch = chunks
	o.misses = nil
	return nil
}
