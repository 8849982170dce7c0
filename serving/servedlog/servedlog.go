// Package servedlog logs what the reader served: for a sample of entity keys
// (chosen by a hash of the key, so a key is always in or always out), every
// row a Get answered — request time, join keys, and per feature its value,
// status and event_timestamp — written as Parquet files under the offline
// root, <root>/_served/date=YYYY-MM-DD/served-....parquet
// (docs/format/served.md).
//
// A Logger implements serving.ServedLog. Logging never blocks or fails a
// request: Served copies the sampled rows into a bounded buffer and returns;
// one goroutine writes them. When the buffer is full, rows are dropped and
// counted. Files are written on size, on an interval and on Close, each
// atomically (a reader never sees half a file), named so that replicas never
// collide.
//
// A served log file is also an entity table (join keys and event_timestamp)
// for `starter training-set --entities`, and what `starter skew-check
// --served` compares with training sets built --as-known-at.
package servedlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/serving"
)

// Options configure a Logger. The zero value is valid (and logs nothing):
// every field documents its default.
type Options struct {
	// Rate is the fraction of entity keys whose rows are logged, in [0, 1].
	// A row is sampled by a hash of its first join key (Sampled), so all of
	// a key's requests are logged or none, on every replica. Default 0:
	// nothing is logged.
	Rate float64
	// BufferRows bounds the rows accepted but not yet written; beyond it,
	// Served drops rows and counts them. Default 65536.
	BufferRows int
	// FlushRows: the rows of one feature list are written once this many
	// are buffered. Default 10000.
	FlushRows int
	// FlushInterval: buffered rows are written at least this often.
	// Default 30s.
	FlushInterval time.Duration
	// Instance names this process in file names, so replicas never write
	// the same name. Default: the host name and a random suffix.
	Instance string
	// Logger receives write errors. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	if math.IsNaN(o.Rate) || o.Rate < 0 || o.Rate > 1 {
		return fmt.Errorf("servedlog: rate %v is not in [0, 1]", o.Rate)
	}
	if o.BufferRows < 0 || o.FlushRows < 0 || o.FlushInterval < 0 {
		return fmt.Errorf("servedlog: buffer rows, flush rows and flush interval must not be negative")
	}
	for _, r := range o.Instance {
		if !isNameRune(r) {
			return fmt.Errorf("servedlog: instance %q: want letters, digits and '-' only", o.Instance)
		}
	}
	return nil
}

func (o *Options) init() {
	if o.BufferRows == 0 {
		o.BufferRows = 65536
	}
	if o.FlushRows == 0 {
		o.FlushRows = 10000
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = 30 * time.Second
	}
	if o.Instance == "" {
		o.Instance = defaultInstance()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

func isNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-'
}

// defaultInstance is the host name (reduced to letters, digits and '-')
// and 8 random hex digits: two processes on one host differ too.
func defaultInstance() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if isNameRune(r) {
			return r
		}
		return '-'
	}, host)
	if len(host) > 32 {
		host = host[:32]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	if host == "" {
		return hex.EncodeToString(b[:])
	}
	return host + "-" + hex.EncodeToString(b[:])
}

// Logger logs served rows. It is safe for concurrent use. Close it to write
// what it holds.
type Logger struct {
	reg       *features.Registry
	w         Writer
	opts      Options
	threshold uint64 // rows whose key hash (>> 11) is below it are logged
	all       bool   // rate 1: every row, no hashing

	ch     chan *record
	mu     sync.RWMutex // held for reading while sending on ch; Close takes it to stop sends
	closed bool
	stop   chan struct{}
	done   chan struct{}
	seq    atomic.Uint64

	pending                                  atomic.Int64 // rows accepted, not yet written or failed
	logged, written, dropped, failed, errors atomic.Uint64
	errMu                                    sync.Mutex
	lastErr                                  error
}

var _ serving.ServedLog = (*Logger)(nil)

// record is one request's sampled rows, copied out of its Result.
type record struct {
	at       int64 // request time, µs
	refs     []features.FeatureRef
	joinKeys []string
	keys     []features.Value       // rows × len(joinKeys), row-major
	vals     []serving.FeatureValue // rows × len(refs), row-major
	rows     int
}

// New returns a logger writing through w. reg gives the types of the
// served features (a feature it does not know takes the type of its
// values). With Rate 0 it starts nothing and Served returns at once.
func New(reg *features.Registry, w Writer, opts Options) (*Logger, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if w == nil {
		return nil, errors.New("servedlog: no writer")
	}
	opts.init()
	l := &Logger{reg: reg, w: w, opts: opts, threshold: threshold(opts.Rate), all: opts.Rate >= 1,
		stop: make(chan struct{}), done: make(chan struct{})}
	if opts.Rate == 0 {
		l.closed = true
		close(l.done)
		return l, nil
	}
	l.ch = make(chan *record, opts.BufferRows)
	go l.run()
	return l, nil
}

// Stats are the logger's counters, in rows (Errors: failed file writes).
type Stats struct {
	Logged  uint64 // rows accepted into the buffer
	Written uint64 // rows written to files
	Dropped uint64 // sampled rows dropped: buffer full, or after Close
	Failed  uint64 // accepted rows lost to a failed write
	Errors  uint64 // failed file writes (a panic in the writer included)
	Pending int64  // rows accepted, not yet written
}

// Stats returns the logger's counters.
func (l *Logger) Stats() Stats {
	return Stats{Logged: l.logged.Load(), Written: l.written.Load(), Dropped: l.dropped.Load(),
		Failed: l.failed.Load(), Errors: l.errors.Load(), Pending: l.pending.Load()}
}

// Served logs the sampled rows of res (see serving.ServedLog). It never
// blocks: when the buffer is full the rows are dropped and counted.
func (l *Logger) Served(at time.Time, entities serving.Entities, res *serving.Result) {
	if l.threshold == 0 || len(res.JoinKeys) == 0 || len(res.Rows) == 0 {
		return
	}
	first := entities[res.JoinKeys[0]]
	if len(first) != len(res.Rows) {
		return // not what the reader answered; nothing sensible to log
	}
	n := len(res.Rows)
	var sel []int
	if !l.all {
		for i := range first {
			if l.sampled(first[i]) {
				sel = append(sel, i)
			}
		}
		if len(sel) == 0 {
			return
		}
		n = len(sel)
	}
	if l.pending.Add(int64(n)) > int64(l.opts.BufferRows) {
		l.pending.Add(-int64(n))
		l.dropped.Add(uint64(n))
		return
	}
	rec := &record{at: features.Micros(at), refs: res.Features, joinKeys: slices.Clone(res.JoinKeys), rows: n,
		keys: make([]features.Value, 0, n*len(res.JoinKeys)), vals: make([]serving.FeatureValue, 0, n*len(res.Features))}
	keyCols := make([][]features.Value, len(res.JoinKeys))
	for j, k := range res.JoinKeys {
		keyCols[j] = entities[k]
	}
	add := func(i int) {
		for _, c := range keyCols {
			var v features.Value
			if i < len(c) {
				v = c[i]
			}
			rec.keys = append(rec.keys, v)
		}
		rec.vals = append(rec.vals, res.Rows[i]...)
	}
	if l.all {
		for i := range res.Rows {
			add(i)
		}
	} else {
		for _, i := range sel {
			add(i)
		}
	}
	l.mu.RLock()
	sent := false
	if !l.closed {
		select {
		case l.ch <- rec:
			sent = true
		default:
		}
	}
	l.mu.RUnlock()
	if sent {
		l.logged.Add(uint64(n))
	} else {
		l.pending.Add(-int64(n))
		l.dropped.Add(uint64(n))
	}
}

// Close writes every accepted row and stops the logger; Served calls after
// it drop their rows. It returns an error when a write failed since New.
func (l *Logger) Close() error {
	l.mu.Lock()
	wasClosed := l.closed
	l.closed = true
	l.mu.Unlock()
	if !wasClosed {
		close(l.stop)
	}
	<-l.done
	return l.err()
}

func (l *Logger) err() error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	if l.lastErr == nil {
		return nil
	}
	return fmt.Errorf("servedlog: %d file writes failed (%d rows lost); the last: %w", l.errors.Load(), l.failed.Load(), l.lastErr)
}

// batchKey groups records by feature list: the reader's plans are
// immutable and shared, so the slice itself identifies the list.
type batchKey struct {
	data *features.FeatureRef
	n    int
}

type batch struct {
	recs []*record
	rows int
}

// run is the one goroutine that writes.
func (l *Logger) run() {
	defer close(l.done)
	tick := time.NewTicker(l.opts.FlushInterval)
	defer tick.Stop()
	batches := map[batchKey]*batch{}
	add := func(r *record) {
		k := batchKey{unsafe.SliceData(r.refs), len(r.refs)}
		b := batches[k]
		if b == nil {
			b = &batch{}
			batches[k] = b
		}
		b.recs = append(b.recs, r)
		b.rows += r.rows
		if b.rows >= l.opts.FlushRows {
			l.flush(b)
			delete(batches, k)
		}
	}
	flushAll := func() {
		for k, b := range batches {
			l.flush(b)
			delete(batches, k)
		}
	}
	for {
		select {
		case r := <-l.ch:
			add(r)
		case <-tick.C:
			flushAll()
		case <-l.stop:
			// Close holds no sender any more: what is in the channel is all.
			for {
				select {
				case r := <-l.ch:
					add(r)
				default:
					flushAll()
					return
				}
			}
		}
	}
}

// flush writes a batch, one file per UTC date of its request times.
func (l *Logger) flush(b *batch) {
	var day int64 = math.MinInt64
	var part []*record
	rows := 0
	for _, r := range b.recs {
		d := floorDay(r.at)
		if d != day && len(part) > 0 {
			l.write(part, rows)
			part, rows = nil, 0
		}
		day = d
		part = append(part, r)
		rows += r.rows
	}
	if len(part) > 0 {
		l.write(part, rows)
	}
}

func floorDay(us int64) int64 {
	const day = 86400e6
	d := us / day
	if us%day < 0 {
		d--
	}
	return d
}

// writeTimeout bounds one file write (a Cloud Storage upload included).
const writeTimeout = 2 * time.Minute

// write writes one file of records; a failure (a panic in the writer
// included) is logged and counted, never fatal.
func (l *Logger) write(recs []*record, rows int) {
	defer l.pending.Add(-int64(rows))
	name := fileName(recs[0].at, l.opts.Instance, l.seq.Add(1))
	err := func() (err error) {
		defer features.RecoverPanic(&err, "servedlog: write "+name)
		// Bounded: a stalled upload must not hold the only writer (and
		// Close) forever; its rows are counted lost instead.
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		defer cancel()
		return l.w.WriteFile(ctx, name, func(w io.Writer) error {
			return writeRecords(w, l.reg, recs, rows)
		})
	}()
	if err != nil {
		l.errors.Add(1)
		l.failed.Add(uint64(rows))
		l.errMu.Lock()
		l.lastErr = err
		l.errMu.Unlock()
		l.opts.Logger.Error("servedlog: write failed; rows lost", "file", name, "rows", rows, "err", err)
		return
	}
	l.written.Add(uint64(rows))
}
