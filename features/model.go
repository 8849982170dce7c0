package features

import (
	"fmt"
	"time"
)

// Entity is the thing features describe (a user, a product). Its join key is
// the column name used in sources, offline files, entity tables and requests.
type Entity struct {
	Name        string
	JoinKey     string
	KeyType     Type // Int64 or String
	Description string
}

// Field is a named, typed column of a source.
type Field struct {
	Name        string `json:"name"`
	Type        Type   `json:"type"`
	Description string `json:"description,omitempty"`
}

// Source is raw timestamped data. Path is relative to the source root
// (SKEWFREE_SOURCE), where files lie as <root>/<path>/date=YYYY-MM-DD/*.parquet;
// Table names the BigQuery table holding the same rows, when there is one.
type Source struct {
	Name           string
	Description    string
	Path           string
	Table          string
	TimestampField string  // event time column, TIMESTAMP
	Fields         []Field // every column but the timestamp, join keys included
}

// Field returns the named field of the source.
func (s *Source) Field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Cadence is how often a view is materialized: the width of one window.
type Cadence string

const (
	Hourly Cadence = "hourly"
	Daily  Cadence = "daily"
)

// Duration of one window of this cadence.
func (c Cadence) Duration() time.Duration {
	switch c {
	case Hourly:
		return time.Hour
	case Daily:
		return 24 * time.Hour
	}
	return 0
}

// Feature is one output column of a view.
type Feature struct {
	Name        string `json:"name"`
	Type        Type   `json:"type"`
	Description string `json:"description"`
}

// View is a feature view: features of one entity, computed from one source by
// one transform, on one cadence.
type View struct {
	Name    string
	Entity  string // Entity.Name
	Source  string // Source.Name
	Cadence Cadence
	// TTL is how long a row stays valid after its event_timestamp, online and
	// in training sets alike; 0 means forever. Otherwise at least MinTTL:
	// one cadence + Lateness + TTLMargin, so serving never goes blank
	// between two runs.
	TTL time.Duration
	// Lateness is how late events may arrive and still be counted; scheduled
	// runs for window end E start at E + Lateness.
	Lateness    time.Duration
	Owner       string
	Description string
	Tags        map[string]string

	// Aggregations are declarative features; Func (optional) adds more.
	Aggregations []Aggregation
	Func         *FuncTransform

	// Shards splits big windows by entity-key hash; 0 means 1.
	Shards int

	// Checks are data-quality checks every run of the view must pass
	// (MaxNullRate, Range, MinRows, ...); OnCheckFailure says what a run
	// does when one fails (default: keep the version offline, flagged, and
	// skip the online push). Neither changes the fingerprint: they judge
	// what is computed, not how.
	Checks         []Check
	OnCheckFailure CheckPolicy

	// Fresh (optional) makes the view fresh: pushed events update its
	// values online within seconds, through the same aggregation code
	// (see Fresh). Only declarative aggregations.
	Fresh *Fresh
}

// FuncTransform is the plain Go form of a transform: it sees one entity's
// events in [end-Lookback, end), oldest first, and fills one value per feature
// in out (preset to nulls). Fn is called for different entities from several
// goroutines at once: it must be safe for concurrent use (a pure function is).
// A panic in Fn fails the window's computation (a *PanicError, not retried);
// it never crashes the worker. Version must change whenever the code's meaning
// does: code cannot be hashed, so Version is what the fingerprint sees.
type FuncTransform struct {
	Features []Feature
	Lookback time.Duration
	Version  string
	// Needs lists the source columns Fn reads (beyond key and time).
	Needs []string
	Fn    func(in FuncInput, out []Value) error
}

// FuncInput is one entity's events for a FuncTransform, in time order.
type FuncInput struct {
	Key    Key
	End    time.Time
	Events *Frame // the whole window's frame; only Rows belong to this entity
	// Rows are row indexes into Events, by event time. Rows may be empty:
	// an entity whose events have all left the window (or whose drained
	// row a skipped run never wrote) gets the drained row, and Fn must
	// give the values of "no events" then.
	Rows []int
	// Aggregated holds the view's aggregation results for this entity, by
	// feature name, so Fn may derive from them.
	Aggregated map[string]Value
}

// Value returns column col of the i-th event of this entity.
func (in FuncInput) Value(i int, col string) Value {
	c := in.Events.Column(col)
	if c == nil {
		return Null
	}
	return c.Value(in.Rows[i])
}

// Time of the i-th event.
func (in FuncInput) Time(i int) time.Time { return FromMicros(in.Events.Time[in.Rows[i]]) }

// Features lists every feature of the view, aggregations first.
func (v *View) Features() []Feature {
	out := make([]Feature, 0, len(v.Aggregations))
	for _, a := range v.Aggregations {
		out = append(out, Feature{Name: a.Name, Type: a.resultType, Description: a.Description})
	}
	if v.Func != nil {
		out = append(out, v.Func.Features...)
	}
	return out
}

// Feature returns the named feature.
func (v *View) Feature(name string) (Feature, bool) {
	for _, f := range v.Features() {
		if f.Name == name {
			return f, true
		}
	}
	return Feature{}, false
}

// Lookback is how far before a window's end the transform reads events.
func (v *View) Lookback() time.Duration {
	var lb time.Duration
	for _, a := range v.Aggregations {
		lb = max(lb, a.Window)
	}
	if v.Func != nil {
		lb = max(lb, v.Func.Lookback)
	}
	return lb
}

// Service is a feature service: the named set of features one model reads.
type Service struct {
	Name        string
	Description string
	Owner       string
	Features    []string // "view:feature" references
}

// FeatureRef is a parsed "view:feature" reference.
type FeatureRef struct {
	View    string
	Feature string
}

func (r FeatureRef) String() string { return r.View + ":" + r.Feature }

// Column is the training-set column name, view__feature.
func (r FeatureRef) Column() string { return r.View + "__" + r.Feature }

// ParseRef parses "view:feature".
func ParseRef(s string) (FeatureRef, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			r := FeatureRef{View: s[:i], Feature: s[i+1:]}
			if r.View == "" || r.Feature == "" {
				break
			}
			return r, nil
		}
	}
	return FeatureRef{}, fmt.Errorf("bad feature reference %q: want view:feature", s)
}

// Micros converts t to microseconds since the epoch (UTC).
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros converts microseconds since the epoch to a UTC time.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
