// Package serving reads online feature values for inference: the latest
// value of each requested feature for each entity, with its status and
// event_timestamp, as DESIGN.md "Serving" describes. It is the library that
// inference code links in-process, and what the HTTP reader service
// (serving/httpapi, serving/server) wraps.
//
// A value's status follows the offline point-in-time join exactly, so that a
// model sees online what a training set built as of now would hold: a value
// is PRESENT when now - TTL <= event_timestamp (TTL 0: always), and otherwise
// OUTSIDE_MAX_AGE with a null value — the join yields null there too.
//
// This package links neither Temporal nor BigQuery nor GCS (a test checks),
// so an inference binary pays only for what it reads.
package serving

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/skewfree/skewfree/features"
)

// Status says whether a feature value was found and is valid now.
type Status uint8

const (
	// NotFound: the store holds no value for the entity (never computed, or
	// expired from Redis). The value is null.
	NotFound Status = iota
	// Present: a valid value (possibly a null one: nulls are values too).
	Present
	// OutsideMaxAge: the stored value is older than the view's TTL. The value
	// is null, as in a training set; EventTime says how old it was.
	OutsideMaxAge
)

// String returns Feast's name for the status.
func (s Status) String() string {
	switch s {
	case Present:
		return "PRESENT"
	case OutsideMaxAge:
		return "OUTSIDE_MAX_AGE"
	}
	return "NOT_FOUND"
}

// Store is what the reader needs from the online store; *redis.Store
// (store/redis) implements it. Implementations must be safe for concurrent
// use.
type Store interface {
	// Prefix is the key prefix of onlinecodec.Key.
	Prefix() string
	// Fetch returns the raw values of keys, "" for missing ones, in one round
	// trip per node.
	Fetch(ctx context.Context, keys []string, dst []string) ([]string, error)
	// Watch reports changed keys until ctx ends (see redis.Store.Watch):
	// fn(nil, true) when the signal is down (forget everything, cache
	// nothing), fn(keys, false) for changed keys, and fn(nil, false) when
	// the signal is up. The reader caches only after a call with reset
	// false, until the next reset.
	Watch(ctx context.Context, fn func(keys []string, reset bool)) error
}

// SchemaStore is an optional ability of a Store, found by type assertion:
// the names and types of the features in values written by one definition
// (fingerprint) of a view. With it, a value written by another definition
// than the registry's serves the features that match by name and type;
// without it, such values are NOT_FOUND. *redis.Store implements it.
type SchemaStore interface {
	// Schema returns the features, in stored order, of view's values written
	// with fingerprint; found is false when the store has none. An error
	// wrapping onlinecodec.ErrCorrupt means the stored schema is unreadable:
	// that definition's values are NOT_FOUND, the request does not fail.
	Schema(ctx context.Context, view, fingerprint string) (feats []features.Feature, found bool, err error)
}

// ErrUnavailable is wrapped by errors from Get when the online store could
// not answer; retrying later may succeed. HTTP maps it to 503.
var ErrUnavailable = errors.New("online store unavailable")

// A RequestError is a mistake in the request itself (unknown feature or
// service, missing join key, wrong key type): retrying cannot help. Its
// message names the problem and is safe to show to the caller.
type RequestError struct{ msg string }

func (e *RequestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &RequestError{msg: fmt.Sprintf(format, args...)}
}

// Options configure a Reader. The zero value is valid: every field documents
// its default.
type Options struct {
	// Now is the clock that TTLs are measured against. Default time.Now;
	// tests inject a fixed time.
	Now func() time.Time
	// CacheEntries bounds the in-process cache of decoded values, in (view,
	// entity) entries. Default 0: no cache. With a cache, the reader
	// subscribes to the store's write signal and drops changed entries; it
	// neither reads nor fills the cache while that signal is down.
	CacheEntries int
	// CacheTTL bounds how long an entry stays cached. It is the safety net
	// for a lost write signal; normally entries are dropped by the signal
	// first. Default 1 minute.
	CacheTTL time.Duration
	// FreshStates bounds the in-process cache of decoded tile fields of
	// fresh views, in fields. A field's bytes (ingest time, definition
	// fingerprint, state) never change meaning, and a tile's fold and older
	// requests are read again and again, so reads look them up by their
	// bytes instead of decoding them; the cache never changes what is
	// served. Default 16384 (a few tens of MB at most); negative: none.
	FreshStates int
	// StrictFingerprint makes every feature of a value computed by a
	// different definition of its view (its fingerprint differs from the
	// registry's) NOT_FOUND. Default false: from such a value, a feature is
	// served when the definition that wrote it has a feature of the same
	// name and type (looked up once per fingerprint through SchemaStore),
	// and is NOT_FOUND otherwise — never matched by position, so a renamed,
	// retyped or reordered feature never serves another feature's number.
	// Deploys of a new definition then blank only what changed until the
	// next run rewrites it. Both are counted in Stats.
	StrictFingerprint bool
	// Logger receives warnings (corrupt values). Default slog.Default().
	Logger *slog.Logger
	// ServedLog, when set, is told what every successful Get served (see
	// ServedLog; serving/servedlog implements it). Default nil: nothing is
	// logged, at no cost.
	ServedLog ServedLog
	// Coalesce shares round trips to the store between concurrent Gets:
	// while one fetch is in flight, the fetches of Gets that arrive wait,
	// and go out together as one (one MGET or pipeline) when it returns.
	// There is no timer, so an idle reader adds no latency; under load,
	// many Gets share a round trip, which saves CPU (system calls, Redis
	// command dispatch) and raises throughput. Each Get still gets only
	// its own values and errors: a store error fails the Gets of its
	// round trip, a Get whose ctx ends returns at once without failing the
	// others. The shared fetch does not carry a Get's context values, and
	// ends when every Get waiting for it has gone (or the store's own
	// timeouts end it). Gets that include a fresh view read their tiles in
	// their own pipeline and are not coalesced. Default false (the reader
	// service turns it on).
	Coalesce bool
	// MaxBatchKeys bounds the keys of one coalesced fetch; a Get with more
	// keys than that goes alone. Default DefaultMaxBatchKeys (1024).
	MaxBatchKeys int
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	if o.CacheEntries < 0 {
		return fmt.Errorf("serving: cache entries %d is negative", o.CacheEntries)
	}
	if o.CacheTTL < 0 {
		return fmt.Errorf("serving: cache TTL %s is negative", o.CacheTTL)
	}
	if o.MaxBatchKeys < 0 {
		return fmt.Errorf("serving: max batch keys %d is negative", o.MaxBatchKeys)
	}
	return nil
}

func (o *Options) init() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBatchKeys == 0 {
		o.MaxBatchKeys = DefaultMaxBatchKeys
	}
	if o.FreshStates == 0 {
		o.FreshStates = 16384
	}
}

// Entities are the entity rows of a request, column-major as in Feast's
// requests: each join key maps to one key per row, and every column has the
// same length. Keys must have their entity's key type.
type Entities map[string][]features.Value

// StringKeys is a column of string entity keys.
func StringKeys(keys ...string) []features.Value {
	out := make([]features.Value, len(keys))
	for i, k := range keys {
		out[i] = features.StringValue(k)
	}
	return out
}

// IntKeys is a column of int64 entity keys.
func IntKeys(keys ...int64) []features.Value {
	out := make([]features.Value, len(keys))
	for i, k := range keys {
		out[i] = features.IntValue(k)
	}
	return out
}

// FeatureValue is one feature of one entity row.
type FeatureValue struct {
	Value     features.Value // null unless Status is Present
	Status    Status
	EventTime time.Time // the stored value's event_timestamp; zero when NotFound
}

// Result answers a Get. Rows[i][j] is feature Features[j] of entity row i.
// A Result is owned by the caller.
type Result struct {
	Features []features.FeatureRef
	// JoinKeys are the entity columns the features need, in the order of
	// their first view in Features.
	JoinKeys []string
	Rows     [][]FeatureValue
	// at is the reader's clock that TTLs were measured against (µs): the
	// request time the served log records.
	at int64
}

// Stats are counters since the reader started.
type Stats struct {
	CacheHits, CacheMisses uint64
	StoreErrors            uint64 // failed Fetch calls
	FingerprintMismatches  uint64 // (view, entity) values computed by another definition
	// DefinitionNotFound counts feature values answered NOT_FOUND although
	// a value was stored, because the definition that wrote it has no
	// feature of that name and type (or is unknown, or StrictFingerprint).
	DefinitionNotFound uint64
	Unreadable         uint64 // corrupt values, or values that contradict their schema: NOT_FOUND
	// CoalescedFetches counts store round trips shared by several Gets
	// (Options.Coalesce), CoalescedGets the Gets they answered.
	CoalescedFetches, CoalescedGets uint64
}
