package serving

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultMaxBatchKeys is the default of Options.MaxBatchKeys.
const DefaultMaxBatchKeys = 1024

// coalescer shares the store's round trips between concurrent Gets
// (Options.Coalesce). While one fetch is in flight, the fetches of Gets that
// arrive queue; when it returns, the queued ones go out together as one
// Store.Fetch (one MGET or pipeline), up to maxKeys keys, in arrival order.
// There is no timer: a fetch that finds nothing in flight goes out at once,
// from its caller's goroutine, so an idle reader adds no latency. Under load
// one goroutine (started when the first fetch of a busy period returns with
// others queued, gone when the queue is empty) sends the batches one after
// another.
//
// Each caller gets exactly its own keys' values and the error of its own
// batch. A caller whose ctx ends returns at once with ctx's error; its keys
// leave the queue, or, when their batch is in flight, are read for nobody.
// A batch's fetch runs under a context that ends only when every caller in
// it has gone (values of the callers' contexts are not carried over, except
// for a batch of one, which runs under its caller's context); the store's
// own timeouts bound it. A panic in Fetch becomes the error of the batch's
// callers and never stops the batcher.
type coalescer struct {
	store   Store
	maxKeys int

	mu    sync.Mutex
	busy  bool // a fetch is in flight
	queue []*fetchCall

	batches, batched atomic.Uint64 // fetches made for more than one caller, and their callers
}

// fetchCall is one queued Fetch.
type fetchCall struct {
	ctx  context.Context
	keys []string
	// Set by the batcher: b under mu when the call's batch goes out; raw
	// and err before done is signalled.
	b    *fetchBatch
	raw  []string
	err  error
	done chan struct{} // buffered: the batcher never blocks on it
}

// fetchBatch is one fetch in flight for several callers.
type fetchBatch struct {
	cancel context.CancelFunc // nil for a batch of one: it runs under its caller's ctx
	live   atomic.Int32       // callers still waiting; the last to leave cancels
}

var callPool = sync.Pool{New: func() any { return &fetchCall{done: make(chan struct{}, 1)} }}

func newCoalescer(store Store, maxKeys int) *coalescer {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxBatchKeys
	}
	return &coalescer{store: store, maxKeys: maxKeys}
}

// Fetch is Store.Fetch, sharing round trips with concurrent callers.
func (c *coalescer) Fetch(ctx context.Context, keys []string, dst []string) ([]string, error) {
	c.mu.Lock()
	if !c.busy {
		// Idle: go out at once, and hand what queued meanwhile to the
		// batcher.
		c.busy = true
		c.mu.Unlock()
		defer c.handOff()
		return safeFetch(ctx, c.store, keys, dst)
	}
	call := callPool.Get().(*fetchCall)
	call.ctx, call.keys = ctx, keys
	c.queue = append(c.queue, call)
	c.mu.Unlock()

	select {
	case <-call.done:
		dst = append(dst[:0], call.raw...)
		err := call.err
		*call = fetchCall{done: call.done}
		callPool.Put(call)
		return dst, err
	case <-ctx.Done():
	}
	// Gone: out of the queue, or out of its batch. The call is not pooled
	// again, as the batcher may still signal it.
	c.mu.Lock()
	b := call.b
	if b == nil {
		if i := slices.Index(c.queue, call); i >= 0 {
			c.queue = slices.Delete(c.queue, i, i+1)
		}
	}
	c.mu.Unlock()
	if b != nil && b.live.Add(-1) == 0 && b.cancel != nil {
		b.cancel()
	}
	return dst[:0], fmt.Errorf("serving: fetch: %w", ctx.Err())
}

// handOff ends a fetch made from its caller's goroutine: with Gets queued,
// a batcher takes over; otherwise the coalescer is idle.
func (c *coalescer) handOff() {
	c.mu.Lock()
	if len(c.queue) == 0 {
		c.busy = false
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	go c.batcher()
}

// batcher sends the queued fetches, one batch at a time, until none is
// left.
func (c *coalescer) batcher() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.busy = false
			c.mu.Unlock()
			return
		}
		// Arrival order, up to maxKeys keys; a call larger than that goes
		// alone.
		n, keys := 0, 0
		for n < len(c.queue) && (n == 0 || keys+len(c.queue[n].keys) <= c.maxKeys) {
			keys += len(c.queue[n].keys)
			n++
		}
		calls := make([]*fetchCall, n)
		copy(calls, c.queue)
		rest := copy(c.queue, c.queue[n:])
		clear(c.queue[rest:])
		c.queue = c.queue[:rest]
		b := &fetchBatch{}
		b.live.Store(int32(n))
		ctx := context.Background()
		if n > 1 {
			ctx, b.cancel = context.WithCancel(ctx)
		}
		for _, call := range calls {
			call.b = b
		}
		c.mu.Unlock()
		c.send(ctx, calls, keys)
		if b.cancel != nil {
			b.cancel()
		}
	}
}

// send makes one batch's fetch, under ctx, and gives each caller its part.
func (c *coalescer) send(ctx context.Context, calls []*fetchCall, n int) {
	if len(calls) == 1 {
		call := calls[0]
		call.raw, call.err = safeFetch(call.ctx, c.store, call.keys, nil)
		call.done <- struct{}{}
		return
	}
	c.batches.Add(1)
	c.batched.Add(uint64(len(calls)))
	keys := make([]string, 0, n)
	for _, call := range calls {
		keys = append(keys, call.keys...)
	}
	raw, err := safeFetch(ctx, c.store, keys, nil)
	if err == nil && len(raw) != len(keys) {
		err = fmt.Errorf("serving: store answered %d values for %d keys", len(raw), len(keys))
	}
	off := 0
	for _, call := range calls {
		if err != nil {
			call.err = err
		} else {
			call.raw = raw[off : off+len(call.keys) : off+len(call.keys)]
		}
		off += len(call.keys)
		call.done <- struct{}{}
	}
}

// safeFetch is store.Fetch with a panic turned into an error.
func safeFetch(ctx context.Context, store Store, keys []string, dst []string) (raw []string, err error) {
	defer func() {
		if v := recover(); v != nil {
			raw, err = dst[:0], fmt.Errorf("serving: online store fetch panicked: %v", v)
		}
	}()
	return store.Fetch(ctx, keys, dst)
}
