package features

import (
	"fmt"
	"time"
)

// Fresh makes a view fresh (streaming): besides its batch windows (computed
// on its cadence like any view's), pushed events update its values online
// within seconds. Its aggregations are kept per entity as tiles of Tile
// width, each holding the mergeable states (TileState) of the events whose
// event time falls in it; a value at T merges the tiles of each
// aggregation's window. The rule, the same online and offline
// (docs/format/fresh.md):
//
//	the value at T of an aggregation with window W aggregates the entity's
//	events with event_time >= floor(T, Tile) - W that were ingested by T
//	(ingest_time <= T).
//
// A push refuses events from the future (event_time > ingest_time), so
// every counted event has event_time <= T: the window is every whole tile
// of W plus the current partial tile, [floor(T, Tile) - W, T]. (Its end is
// closed only for events ingested in the very microsecond T.) Training sets
// apply the same rule to the logged events (FreshAsOf).
type Fresh struct {
	// Tile is the width of one tile: at least a second, a whole number of
	// seconds, dividing the view's cadence and every aggregation window,
	// with at most MaxTilesPerWindow tiles in a window.
	Tile time.Duration
	// IngestDelay is the expected delay between an event's time and its
	// ingestion. Training sets built without as-known-at count an event
	// from event_time + IngestDelay (its ingest time is not what a model
	// will see in production); in [0, 24h].
	IngestDelay time.Duration
}

// IngestTimestampColumn is the column of a source holding, for pushed
// events, when they were ingested (TIMESTAMP, microseconds; null for events
// that were not pushed, which count as ingested at their event time).
const IngestTimestampColumn = "ingest_timestamp"

// MaxTilesPerWindow bounds the tiles one aggregation merges per read (a week
// of one-minute tiles).
const MaxTilesPerWindow = 7 * 24 * 60

// MaxIngestDelay bounds Fresh.IngestDelay.
const MaxIngestDelay = 24 * time.Hour

// IsFresh reports whether v is a fresh view.
func (v *View) IsFresh() bool { return v.Fresh != nil }

// checkFresh validates a fresh view after its aggregations are resolved.
func checkFresh(v *View, src *Source) error {
	fr := v.Fresh
	if v.Func != nil {
		return fmt.Errorf("a fresh view takes only declarative aggregations (count, sum, mean, min, max, last, distinct_count): remove Func or make the view a batch view")
	}
	if len(v.Aggregations) == 0 {
		return fmt.Errorf("a fresh view needs at least one aggregation")
	}
	if fr.Tile < time.Second || fr.Tile%time.Second != 0 {
		return fmt.Errorf("fresh tile %s invalid: want a whole number of seconds, at least 1s", fr.Tile)
	}
	if c := v.Cadence.Duration(); c%fr.Tile != 0 {
		return fmt.Errorf("fresh tile %s does not divide the %s cadence (%s)", fr.Tile, v.Cadence, c)
	}
	if fr.IngestDelay < 0 || fr.IngestDelay > MaxIngestDelay || fr.IngestDelay%time.Microsecond != 0 {
		return fmt.Errorf("fresh ingest delay %s out of range [0, %s] (whole microseconds)", fr.IngestDelay, MaxIngestDelay)
	}
	for _, a := range v.Aggregations {
		if a.Window%fr.Tile != 0 {
			return fmt.Errorf("feature %s: window %s is not a multiple of the fresh tile %s", a.Name, a.Window, fr.Tile)
		}
		if n := a.Window / fr.Tile; n > MaxTilesPerWindow {
			return fmt.Errorf("feature %s: window %s holds %d tiles of %s, more than %d: use a larger tile", a.Name, a.Window, n, fr.Tile, MaxTilesPerWindow)
		}
	}
	if _, ok := src.Field(IngestTimestampColumn); ok {
		return fmt.Errorf("source %s declares a field %q, which fresh views reserve for the ingest time of pushed events", src.Name, IngestTimestampColumn)
	}
	return nil
}

// TileStart is the start (microseconds since the epoch, UTC) of the tile of
// fresh view v holding an event at eventMicros. v must be fresh.
func TileStart(v *View, eventMicros int64) int64 {
	return floorMicros(eventMicros, v.Fresh.Tile.Microseconds())
}

func floorMicros(t, step int64) int64 {
	m := t % step
	if m < 0 {
		m += step
	}
	return t - m
}

// FreshTiles returns the first and last tile start (inclusive) a read of
// fresh view v at t merges: the tiles of its longest window, the current
// partial tile included.
func FreshTiles(v *View, t time.Time) (first, last int64) {
	last = TileStart(v, Micros(t))
	return last - v.Lookback().Microseconds(), last
}

// FreshRetention is how long after its start a tile of fresh view v can
// still be read: the longest window plus one tile. Online tiles may expire
// then.
func FreshRetention(v *View) time.Duration {
	return v.Lookback() + v.Fresh.Tile
}
