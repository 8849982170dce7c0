package serving

import "time"

// ServedLog receives what a Reader served, for Options.ServedLog: package
// serving/servedlog samples it by entity key and writes it to Parquet under
// the offline root. Implementations must be safe for concurrent use.
type ServedLog interface {
	// Served is called after every successful Get (and GetService) with
	// the request time, the request's entity columns and its result. It
	// runs on the request's goroutine: it must return at once (never block
	// on I/O) and must not keep entities or res, which belong to the
	// caller; it copies what it keeps. The request time is the reader's
	// clock after the online read, the very instant (to the µs) TTLs were
	// measured against; for a request with a fresh view, the instant T
	// its fresh values were computed at (the clock before the read), which
	// TTLs are then measured against too.
	Served(at time.Time, entities Entities, res *Result)
}
