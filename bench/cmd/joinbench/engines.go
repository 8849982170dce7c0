package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" database/sql driver

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/trainingset"
)

// Engine names, as given to -engines and printed in the table.
const (
	engineOurs = "skewfree"
	// engineDuckDB is DuckDB's fastest correct form we found: one ASOF join
	// whose inequality is on the pair (event_timestamp, created_timestamp).
	engineDuckDB = "duckdb"
	// engineDuckDBArgMax first reduces history to one row per (user,
	// event_timestamp) with arg_max, then ASOF-joins on event_timestamp.
	engineDuckDBArgMax = "duckdb-argmax"
	// engineDuckDBQualify is the same with a QUALIFY row_number() window.
	engineDuckDBQualify = "duckdb-qualify"
	// engineDuckDBNaive is a plain ASOF join: no tie-break, no TTL. It is
	// wrong on purpose, to show that the check catches both.
	engineDuckDBNaive = "duckdb-naive"
)

var duckEngines = []string{engineDuckDB, engineDuckDBArgMax, engineDuckDBQualify, engineDuckDBNaive}

// runOurs builds the training set with trainingset.Build.
func runOurs(ctx context.Context, log *slog.Logger, d dataset, ttl time.Duration) error {
	reg, err := newRegistry(ttl)
	if err != nil {
		return err
	}
	st, err := parquet.Open(d.offline())
	if err != nil {
		return err
	}
	refs := make([]features.FeatureRef, len(featureNames))
	for i, n := range featureNames {
		refs[i] = features.FeatureRef{View: viewName, Feature: n}
	}
	stats, err := trainingset.Build(ctx, reg, st, trainingset.Options{
		Entities: d.entities(),
		Features: refs,
		Out:      d.out(engineOurs),
		Logger:   log,
	})
	if err != nil {
		return fmt.Errorf("training set: %w", err)
	}
	log.Info("skewfree join done", "entity_rows", stats.EntityRows, "history_rows", stats.HistoryRows,
		"files", stats.Files, "partitions", stats.Partitions, "elapsed", stats.Elapsed.Round(time.Millisecond))
	return nil
}

// duckQuery is the same join in DuckDB SQL for one of the duckEngines,
// written with COPY TO so that DuckDB writes a Parquet file as ours does.
//
// ASOF LEFT JOIN takes, per entity row, the history row of the same user
// with the greatest value <= the entity row's under one inequality. On
// event_timestamp alone, which of several rows with the same event_timestamp
// it takes is unspecified, so the tie-break needs either a composite
// inequality, (event_timestamp, created_timestamp) <= (T, +infinity) as a
// STRUCT, which compares field by field, or history reduced beforehand to one
// row per (user, event_timestamp). The TTL is a CASE on the matched row:
// older than T - ttl means nulls (on microseconds, so no time zone or DST
// arithmetic is involved). The entity rows carry their position in the file
// so the output keeps the input order.
func duckQuery(d dataset, ttl time.Duration, engine string) (string, error) {
	cols := strings.Join(featureNames, ", ")
	src := sqlPath(d.historyGlob())
	eKey, hKey := "e.event_timestamp", "h.event_timestamp"
	var hist string
	switch engine {
	case engineDuckDB:
		eKey, hKey = "{'t': e.event_timestamp, 'c': 'infinity'::TIMESTAMPTZ}", "{'t': h.event_timestamp, 'c': h.created_timestamp}"
		hist = fmt.Sprintf("SELECT %s, event_timestamp, created_timestamp, %s FROM read_parquet(%s)", joinKey, cols, src)
	case engineDuckDBArgMax:
		fields, out := make([]string, len(featureNames)), make([]string, len(featureNames))
		for i, n := range featureNames {
			fields[i] = fmt.Sprintf("%[1]s: %[1]s", n)
			out[i] = fmt.Sprintf("v.%[1]s AS %[1]s", n)
		}
		hist = fmt.Sprintf("SELECT %[1]s, event_timestamp, %[2]s FROM (SELECT %[1]s, event_timestamp, arg_max({%[3]s}, created_timestamp) AS v FROM read_parquet(%[4]s) GROUP BY %[1]s, event_timestamp)",
			joinKey, strings.Join(out, ", "), strings.Join(fields, ", "), src)
	case engineDuckDBQualify:
		hist = fmt.Sprintf("SELECT %[1]s, event_timestamp, %[2]s FROM read_parquet(%[3]s) QUALIFY row_number() OVER (PARTITION BY %[1]s, event_timestamp ORDER BY created_timestamp DESC) = 1",
			joinKey, cols, src)
	case engineDuckDBNaive:
		hist = fmt.Sprintf("SELECT %s, event_timestamp, %s FROM read_parquet(%s)", joinKey, cols, src)
		ttl = 0
	default:
		return "", fmt.Errorf("unknown DuckDB engine %q", engine)
	}
	feats := make([]string, len(featureNames))
	for i, n := range featureNames {
		expr := "h." + n
		if ttl > 0 {
			expr = fmt.Sprintf("CASE WHEN epoch_us(h.event_timestamp) >= epoch_us(e.event_timestamp) - %d THEN h.%s END", ttl.Microseconds(), n)
		}
		feats[i] = fmt.Sprintf("%s AS %s__%s", expr, viewName, n)
	}
	return fmt.Sprintf(`COPY (
  WITH e AS (
    SELECT * FROM read_parquet(%[1]s, file_row_number = true)
  ), h AS (
    %[2]s
  )
  SELECT e.%[3]s, e.event_timestamp, e.%[4]s,
    %[5]s
  FROM e ASOF LEFT JOIN h ON e.%[3]s = h.%[3]s AND %[6]s >= %[7]s
  ORDER BY e.file_row_number
) TO %[8]s (FORMAT parquet, COMPRESSION snappy)`,
		sqlPath(d.entities()), hist, joinKey, labelColumn, strings.Join(feats, ",\n    "), eKey, hKey,
		sqlPath(d.out(engine)+".tmp")), nil
}

// runDuckDB runs duckQuery in an in-memory DuckDB with its default settings
// (one thread per core, memory limit 80% of RAM), then renames the output
// into place.
func runDuckDB(ctx context.Context, log *slog.Logger, d dataset, ttl time.Duration, engine string) error {
	q, err := duckQuery(d, ttl, engine)
	if err != nil {
		return err
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return fmt.Errorf("duckdb: %w", err)
	}
	defer db.Close()
	var threads, memLimit string
	if err := db.QueryRowContext(ctx, "SELECT current_setting('threads')::VARCHAR, current_setting('memory_limit')").Scan(&threads, &memLimit); err != nil {
		return fmt.Errorf("duckdb settings: %w", err)
	}
	log.Debug("duckdb query", "engine", engine, "sql", q)
	t0 := time.Now()
	tmp := d.out(engine) + ".tmp"
	defer os.Remove(tmp)
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("%s join: %w", engine, err)
	}
	if err := os.Rename(tmp, d.out(engine)); err != nil {
		return fmt.Errorf("%s join: %w", engine, err)
	}
	log.Info("duckdb join done", "engine", engine, "threads", threads, "memory_limit", memLimit, "elapsed", time.Since(t0).Round(time.Millisecond))
	return nil
}

// sqlPath quotes a file path (made absolute) as a SQL string literal.
func sqlPath(s string) string {
	if abs, err := filepath.Abs(s); err == nil {
		s = abs
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
