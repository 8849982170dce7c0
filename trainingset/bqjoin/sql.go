package bqjoin

import (
	"fmt"
	"strings"
	"time"

	"github.com/skewfree/skewfree/features"
	bqstore "github.com/skewfree/skewfree/store/bigquery"
)

// Column names of the entity table as uploaded and of each view's
// intermediate table.
const (
	// RowColumn numbers the entity rows at upload, 0-based, in input order:
	// the only identity of a row (keys are never concatenated into one).
	RowColumn = "_row"
	// EventTimestamp is the as-of time of entity rows and the event time of
	// history rows.
	EventTimestamp = "event_timestamp"
	// CreatedTimestamp is the run time of a history row's version.
	CreatedTimestamp = "created_timestamp"
	// PublishedTable is the table, in the history dataset, that says when
	// each version (view, window end, created) was published: what
	// --as-known-at needs; the worker's store writes it. See
	// docs/format/bigquery.md.
	PublishedTable = bqstore.PublishedTable

	keyCol  = "k" // intermediate tables: the join key,
	timeCol = "t" // the entity time,
)

// ViewSpec is one view's part of a join: which history table to read, how,
// and over which partitions.
type ViewSpec struct {
	View     string // the view's name, as in PublishedTable
	History  string // its history table, "project.dataset.table"
	JoinKey  string
	KeyType  features.Type
	Features []features.Feature
	// Missing lists features the history table has no column for yet (no
	// run since the feature was added): they read as nulls, as a missing
	// Parquet column does.
	Missing map[string]bool
	// Published is the PublishedTable, "project.dataset._published";
	// required with AsKnownAt.
	Published  string
	TTL        time.Duration
	Lateness   time.Duration
	Visibility features.Visibility
	AsKnownAt  bool
	// From and To bound the partitions read (inclusive); a zero From reads
	// from the first one. See Bounds.
	From, To time.Time
}

// Bounds are the event_timestamp literals a view's statement filters the
// history on: [min T - TTL - lateness, max T] for entity times in
// [minT, maxT] (from is zero when TTL is unlimited). Every row the join can
// take lies inside, so BigQuery prunes every other partition.
func Bounds(minT, maxT time.Time, ttl, lateness time.Duration) (from, to time.Time) {
	if ttl > 0 {
		from = minT.Add(-ttl - max(lateness, 0))
	}
	return from, maxT
}

// ViewSQL is the statement that answers one view for every distinct (key,
// time) of the entity table: one row (k, t, features...) per pair that has
// a qualifying history row. Its result goes to an intermediate table that
// JoinSQL joins back to the entity rows.
//
// It is the join contract (DESIGN.md, "Point-in-time join") in SQL, the
// same as features.AsOfJoin: a history row of the same key is available at
// its event_timestamp + lateness (VisibleAtEventTime: event_timestamp),
// under AsKnownAt at the later of that and its version's publication time;
// it is visible at T when available by T. The winner at T is the visible
// row with the greatest event_timestamp, ties to the greatest
// created_timestamp (a null one loses to any); it answers when within TTL,
// T - ttl <= event_timestamp (if the winner is too old, every visible row
// is). All arithmetic is on integer microseconds, so the edges are exact.
//
// The statement is linear after a sort per key, never pairs × history
// rows: each history row of a requested key is ranked within its key by
// (event_timestamp, created_timestamp) (h.rk); history rows and entity
// pairs are merged per key in availability order (a history row before a
// pair at the same time: the bound is inclusive), and a running MAX of the
// rank gives each pair its winner, joined back on (key, rank). Rows that tie
// exactly on both timestamps are ordered by their feature values
// (TO_JSON_STRING), so the answer depends on the table's contents only,
// not on how BigQuery stores or reads it (the Go join breaks such ties by
// file order, which a table does not have: identical rows, a retried
// insert's, give the same answer on both).
func ViewSQL(entities string, v ViewSpec) (string, error) {
	if err := checkIdent(v.JoinKey); err != nil {
		return "", err
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	// e: the distinct (key, time) pairs; null keys never match.
	w("WITH e AS (\n  SELECT DISTINCT %s AS %s, %s AS %s\n  FROM %s\n  WHERE %s IS NOT NULL\n),\n",
		quote(v.JoinKey), keyCol, EventTimestamp, timeCol, table(entities), quote(v.JoinKey))
	// h0: the history of the requested keys inside the partition bounds,
	// times in microseconds.
	w("h0 AS (\n  SELECT %s AS %s, UNIX_MICROS(%s) AS ts, UNIX_MICROS(%s) AS cr", quote(v.JoinKey), keyCol, EventTimestamp, CreatedTimestamp)
	fs := make([]string, len(v.Features))
	for i, f := range v.Features {
		if err := checkIdent(f.Name); err != nil {
			return "", err
		}
		fs[i] = fmt.Sprintf("f%d", i)
		if v.Missing[f.Name] {
			t, err := sqlType(f.Type)
			if err != nil {
				return "", err
			}
			w(", CAST(NULL AS %s) AS f%d", t, i)
		} else {
			w(", %s AS f%d", quote(f.Name), i)
		}
	}
	w("\n  FROM %s\n  WHERE %s\n    AND %s IN (SELECT %s FROM e)\n)", table(v.History), rangeFilter(EventTimestamp, v.From, v.To), quote(v.JoinKey), keyCol)
	delay := int64(0)
	if v.Visibility == features.VisibleWhenAvailable {
		delay = max(v.Lateness.Microseconds(), 0)
	}
	avail := fmt.Sprintf("h0.ts + %d", delay)
	known := ""
	if v.AsKnownAt {
		if v.Published == "" {
			return "", fmt.Errorf("view %s: as-known-at needs the %s table", v.View, PublishedTable)
		}
		// p: when each version was published (a retried marker keeps the
		// first time); a version without one is never known.
		w(",\np AS (\n  SELECT UNIX_MICROS(window_end) AS ts, UNIX_MICROS(created) AS cr, MIN(UNIX_MICROS(published)) AS known\n")
		w("  FROM %s\n  WHERE view = %s AND %s\n  GROUP BY ts, cr\n)", table(v.Published), stringLit(v.View), rangeFilter("window_end", v.From, v.To))
		avail = fmt.Sprintf("GREATEST(%s, p.known)", avail)
		known = "\n  JOIN p ON p.ts = h0.ts AND p.cr = h0.cr"
	}
	// h: each visible-some-day history row with its availability time and
	// its rank within the key in (ts, cr) order, exact ties by value.
	tie := "''"
	if len(fs) > 0 {
		tie = "TO_JSON_STRING(STRUCT(h0." + strings.Join(fs, ", h0.") + "))"
	}
	w(",\nh AS (\n  SELECT h0.*, %s AS av,\n    ROW_NUMBER() OVER (PARTITION BY h0.%s ORDER BY h0.ts, h0.cr NULLS FIRST, %s) AS rk\n  FROM h0%s\n)", avail, keyCol, tie, known)
	// u: history rows and entity pairs per key in availability order; a
	// pair's running MAX(rk) is the rank of its winner.
	w(",\nu AS (\n  SELECT %s, CAST(NULL AS TIMESTAMP) AS %s, av, 0 AS side, rk FROM h\n", keyCol, timeCol)
	w("  UNION ALL\n  SELECT %s, %s, UNIX_MICROS(%s), 1, NULL FROM e\n)", keyCol, timeCol, timeCol)
	w(",\nbest AS (\n  SELECT %s, %s, side,\n    MAX(rk) OVER (PARTITION BY %s ORDER BY av, side ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS rk\n  FROM u\n)",
		keyCol, timeCol, keyCol)
	w("\nSELECT b.%s, b.%s", keyCol, timeCol)
	for _, f := range fs {
		w(", h.%s", f)
	}
	w("\nFROM best b\nJOIN h ON h.%s = b.%s AND h.rk = b.rk\nWHERE b.side = 1", keyCol, keyCol)
	if v.TTL > 0 {
		w("\n  AND h.ts >= UNIX_MICROS(b.%s) - %d", timeCol, v.TTL.Microseconds())
	}
	return b.String(), nil
}

// Part is one view's intermediate table in the final join.
type Part struct {
	Table   string   // "project.dataset.table", written by ViewSQL's statement
	JoinKey string   // the entity table's key column for the view
	Columns []string // output names of its features f0, f1, ... (view__feature)
}

// JoinSQL joins the intermediate tables back to every entity row: one
// output row per entity row, duplicates kept, nulls where a view had no
// answer. With passThrough the entity table's other columns lead, as in a
// local training set.
//
// The result is in no particular order: it has no ORDER BY, whose global
// sort of a large result is the classic "resources exceeded" failure. A
// table has no order anyway (RowColumn is the input order), and Build
// writes Parquet by placing each result row at its RowColumn.
func JoinSQL(entities string, parts []Part, passThrough bool) (string, error) {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	if passThrough {
		w("SELECT e.*")
	} else {
		w("SELECT e.%s", RowColumn)
	}
	for i, p := range parts {
		for j, c := range p.Columns {
			if err := checkIdent(c); err != nil {
				return "", err
			}
			w(", v%d.f%d AS %s", i, j, quote(c))
		}
	}
	w("\nFROM %s e", table(entities))
	for i, p := range parts {
		if err := checkIdent(p.JoinKey); err != nil {
			return "", err
		}
		w("\nLEFT JOIN %s v%d ON v%d.%s = e.%s AND v%d.%s = e.%s", table(p.Table), i, i, keyCol, quote(p.JoinKey), i, timeCol, EventTimestamp)
	}
	return b.String(), nil
}

// rangeFilter is col's partition filter as literals: [from, to], from
// omitted when zero.
func rangeFilter(col string, from, to time.Time) string {
	f := col + " <= " + timestampLit(to)
	if !from.IsZero() {
		f = col + " >= " + timestampLit(from) + " AND " + f
	}
	return f
}

// timestampLit is a TIMESTAMP literal with microseconds, in UTC.
func timestampLit(t time.Time) string {
	return "TIMESTAMP '" + t.UTC().Format("2006-01-02 15:04:05.000000") + "+00'"
}

func stringLit(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}

func quote(ident string) string { return "`" + ident + "`" }

// table quotes a "project.dataset.table" path as one identifier.
func table(path string) string { return "`" + path + "`" }

// checkIdent rejects a column name BigQuery cannot hold or that would
// break out of its quotes.
func checkIdent(name string) error {
	if name == "" || len(name) > 300 {
		return fmt.Errorf("column name %q: want 1 to 300 characters", name)
	}
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Errorf("column name %q: BigQuery columns take letters, digits and underscores only", name)
		}
	}
	return nil
}

// sqlType is the BigQuery type of a feature type.
func sqlType(t features.Type) (string, error) {
	switch t {
	case features.Int64:
		return "INT64", nil
	case features.Float64:
		return "FLOAT64", nil
	case features.String:
		return "STRING", nil
	case features.Bool:
		return "BOOL", nil
	}
	return "", fmt.Errorf("type %s has no BigQuery column type", t)
}
