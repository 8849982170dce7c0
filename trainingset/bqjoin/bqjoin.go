// Package bqjoin builds training sets inside BigQuery: the point-in-time join
// of trainingset, on history tables that the BigQuery store writes (one per
// view, columns as the Parquet contract, partitioned on event_timestamp), for
// entity tables that outgrow one machine.
//
// A build uploads the entity rows with their row number (RowColumn), runs one
// statement per view (ViewSQL) into an intermediate table, then one join
// (JoinSQL) back to every entity row, and writes Parquet or a table. Each
// view's statement reads only the partitions its entity times can reach
// (Bounds), as literals, so BigQuery prunes the rest; DryRun reports the
// bytes it would scan. The answers are features.AsOfJoin's, row for row
// (internal/pitcases runs on both).
package bqjoin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	gbigquery "cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/skewfree/skewfree/features"
	bqstore "github.com/skewfree/skewfree/store/bigquery"
	"github.com/skewfree/skewfree/trainingset"
)

// Dataset names a BigQuery dataset: SKEWFREE_BIGQUERY's project.dataset.
type Dataset struct {
	Project, Name string
}

// ParseDataset reads "project.dataset" (a domain-scoped project,
// "example.com:p.dataset", has dots of its own: the last one splits).
func ParseDataset(s string) (Dataset, error) {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || i == len(s)-1 {
		return Dataset{}, fmt.Errorf("bigquery dataset %q: want project.dataset", s)
	}
	return Dataset{Project: s[:i], Name: s[i+1:]}, nil
}

func (d Dataset) String() string { return d.Project + "." + d.Name }

// Table is the path of a table of the dataset, "project.dataset.table".
func (d Dataset) Table(name string) string { return d.String() + "." + name }

// Options of a build. Zero values mean the documented defaults.
type Options struct {
	Entities string                // local entity table (see trainingset.Options.Entities); required
	Features []features.FeatureRef // resolved references; required
	// Out is the output Parquet file (written atomically), or OutTable a
	// table of the dataset ("name") or any ("project.dataset.name"),
	// replaced whole: RowColumn, the join keys, event_timestamp, the other
	// entity columns, then the features.
	// Exactly one; DryRun needs neither.
	Out, OutTable string
	Visibility    features.Visibility // as trainingset.Options.Visibility
	// AsKnownAt also requires the row's version to be published by T, as
	// PublishedTable records it (a version without a row there never is).
	AsKnownAt bool
	// DryRun uploads the entity rows, dry-runs every view's statement and
	// reports the bytes they would scan (Stats.ViewBytes), writing nothing.
	DryRun bool
	// Expiration of the intermediate tables, in case a build dies before
	// it drops them. Default 24h.
	Expiration time.Duration
	Logger     *slog.Logger
}

func (o *Options) init() error {
	if o.Entities == "" {
		return errors.New("training set: an entity file is required")
	}
	if !o.DryRun && (o.Out == "") == (o.OutTable == "") {
		return errors.New("training set: give exactly one of an output file and an output table")
	}
	if len(o.Features) == 0 {
		return errors.New("training set: no features requested")
	}
	if o.Expiration <= 0 {
		o.Expiration = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Stats describe a finished build.
type Stats struct {
	EntityRows int64
	// ViewBytes are the bytes each view's statement scanned (with DryRun:
	// would scan), in request order of the views; Bytes adds them up with
	// the final join's.
	ViewBytes []ViewBytes
	Bytes     int64
	Elapsed   time.Duration
}

// ViewBytes is what one view's statement scans.
type ViewBytes struct {
	View  string
	Bytes int64
}

// Build runs the join in dataset ds through client and writes Options.Out
// or Options.OutTable. On error nothing is written (the Parquet file
// appears whole, the table is replaced by one job or not at all), and the
// intermediate tables are dropped.
func Build(ctx context.Context, client *gbigquery.Client, ds Dataset, reg *features.Registry, opt Options) (Stats, error) {
	start := time.Now()
	if err := opt.init(); err != nil {
		return Stats{}, err
	}
	in, err := trainingset.OpenEntityTable(reg, opt.Entities, opt.Features)
	if err != nil {
		return Stats{}, err
	}
	defer in.Close()

	reqs, err := plan(reg, in, opt)
	if err != nil {
		return Stats{}, err
	}
	n := len(in.Times)
	st := Stats{EntityRows: int64(n)}
	results := make([]*features.Column, len(opt.Features))
	for _, r := range reqs {
		for i, c := range r.cols {
			results[c] = features.NewNullColumn(opt.Features[c].Column(), r.feats[i].Type, n)
		}
	}
	if n == 0 && opt.OutTable == "" {
		if opt.DryRun {
			return st, nil
		}
		return st, in.WriteParquet(opt.Out, results)
	}
	var minT, maxT int64 // an empty table (for OutTable) reads nothing anyway
	if n > 0 {
		minT, maxT = slices.Min(in.Times), slices.Max(in.Times)
	}

	// Every view's table and its columns, before anything is created.
	dataset := client.DatasetInProject(ds.Project, ds.Name)
	specs := make([]ViewSpec, len(reqs))
	for i, r := range reqs {
		if specs[i], err = viewSpec(ctx, dataset, ds, r, opt); err != nil {
			return st, err
		}
		specs[i].From, specs[i].To = Bounds(features.FromMicros(minT), features.FromMicros(maxT), r.view.TTL, r.view.Lateness)
	}
	if opt.AsKnownAt {
		if _, err := dataset.Table(PublishedTable).Metadata(ctx); err != nil {
			if isNotFound(err) {
				return st, fmt.Errorf("--as-known-at on bigquery needs table %s (one row per published version, see docs/format/bigquery.md): it does not exist", ds.Table(PublishedTable))
			}
			return st, fmt.Errorf("bigquery: table %s: %w", ds.Table(PublishedTable), err)
		}
	}

	// Intermediate tables: dropped when done, expiring in case we die.
	prefix, err := tempPrefix()
	if err != nil {
		return st, err
	}
	var temps []string
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, name := range temps {
			if err := dataset.Table(name).Delete(dctx); err != nil && !isNotFound(err) {
				opt.Logger.Warn("training set: drop intermediate table (it expires by itself)", "table", ds.Table(name), "err", err)
			}
		}
	}()
	expires := time.Now().Add(opt.Expiration)

	entName := prefix + "entities"
	temps = append(temps, entName)
	keyCols := uploadColumns(reqs)
	if err := upload(ctx, dataset.Table(entName), in, keyCols, opt.OutTable != "", expires); err != nil {
		return st, fmt.Errorf("upload entity rows to %s: %w", ds.Table(entName), err)
	}
	opt.Logger.Debug("uploaded entity rows", "table", ds.Table(entName), "rows", n)

	parts := make([]Part, len(reqs))
	for i, r := range reqs {
		sql, err := ViewSQL(ds.Table(entName), specs[i])
		if err != nil {
			return st, fmt.Errorf("view %s: %w", r.view.Name, err)
		}
		q := client.Query(sql)
		q.DryRun = opt.DryRun
		name := fmt.Sprintf("%sv%d", prefix, i)
		if !opt.DryRun {
			temps = append(temps, name)
			q.Dst = dataset.Table(name)
			q.CreateDisposition = gbigquery.CreateIfNeeded
			q.WriteDisposition = gbigquery.WriteTruncate
		}
		bytes, err := runJob(ctx, q)
		if err != nil {
			return st, fmt.Errorf("view %s: %w", r.view.Name, err)
		}
		if !opt.DryRun {
			if err := setExpiration(ctx, dataset.Table(name), expires); err != nil {
				opt.Logger.Warn("training set: intermediate table without expiration", "table", ds.Table(name), "err", err)
			}
		}
		st.ViewBytes = append(st.ViewBytes, ViewBytes{View: r.view.Name, Bytes: bytes})
		st.Bytes += bytes
		opt.Logger.Debug("joined view", "view", r.view.Name, "bytes", bytes, "from", specs[i].From, "to", specs[i].To)
		cols := make([]string, len(r.cols))
		for j, c := range r.cols {
			cols[j] = opt.Features[c].Column()
		}
		parts[i] = Part{Table: ds.Table(name), JoinKey: r.ent.JoinKey, Columns: cols}
	}
	if opt.DryRun {
		st.Elapsed = time.Since(start)
		return st, nil
	}

	sql, err := JoinSQL(ds.Table(entName), parts, opt.OutTable != "")
	if err != nil {
		return st, err
	}
	q := client.Query(sql)
	if opt.OutTable != "" {
		out := outTable(client, ds, opt.OutTable)
		q.Dst = out
		q.CreateDisposition = gbigquery.CreateIfNeeded
		q.WriteDisposition = gbigquery.WriteTruncate
		bytes, err := runJob(ctx, q)
		if err != nil {
			return st, fmt.Errorf("join into %s: %w", opt.OutTable, err)
		}
		st.Bytes += bytes
		st.Elapsed = time.Since(start)
		return st, nil
	}
	job, err := q.Run(ctx)
	if err != nil {
		return st, fmt.Errorf("bigquery: final join: %w", err)
	}
	if err := readResults(ctx, job, results); err != nil {
		return st, fmt.Errorf("bigquery: final join: %w", err)
	}
	if s := job.LastStatus(); s != nil && s.Statistics != nil {
		st.Bytes += s.Statistics.TotalBytesProcessed
	}
	if err := in.WriteParquet(opt.Out, results); err != nil {
		return st, err
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// viewReq is one requested view: its features and their result columns.
type viewReq struct {
	view  *features.View
	ent   *features.Entity
	feats []features.Feature
	cols  []int // index in Options.Features
}

// plan groups the references by view in request order and checks them
// against the entity table, as trainingset.Build does.
func plan(reg *features.Registry, in *trainingset.EntityTable, opt Options) ([]*viewReq, error) {
	var reqs []*viewReq
	byView := map[string]*viewReq{}
	names := map[string]bool{}
	for _, c := range in.File.Columns() {
		names[c] = true
	}
	if names[RowColumn] {
		return nil, fmt.Errorf("entity file %s: column %s is reserved for the row number", opt.Entities, RowColumn)
	}
	keyType := map[string]features.Type{}
	for i, ref := range opt.Features {
		v, ok := reg.View(ref.View)
		if !ok {
			return nil, fmt.Errorf("unknown view %q", ref.View)
		}
		if v.IsFresh() {
			// Its values come from logged events, not history tables: a
			// history-table join would silently give batch-window values.
			return nil, fmt.Errorf("view %s is fresh (streaming): --engine bigquery does not compute fresh views yet; use --engine local", v.Name)
		}
		f, ok := v.Feature(ref.Feature)
		if !ok {
			return nil, fmt.Errorf("unknown feature %q in view %s", ref.Feature, ref.View)
		}
		if names[ref.Column()] {
			return nil, fmt.Errorf("entity file already has a column %s", ref.Column())
		}
		names[ref.Column()] = true
		r := byView[v.Name]
		if r == nil {
			ent := reg.EntityOf(v)
			if !in.File.HasColumn(ent.JoinKey) {
				return nil, fmt.Errorf("entity file %s: missing join key column %s (needed by view %s)", opt.Entities, ent.JoinKey, v.Name)
			}
			if t, seen := keyType[ent.JoinKey]; seen && t != ent.KeyType {
				return nil, fmt.Errorf("join key %s is %s for one view and %s for view %s: the bigquery engine uploads one column", ent.JoinKey, t, ent.KeyType, v.Name)
			}
			keyType[ent.JoinKey] = ent.KeyType
			r = &viewReq{view: v, ent: ent}
			byView[v.Name] = r
			reqs = append(reqs, r)
		}
		r.feats = append(r.feats, f)
		r.cols = append(r.cols, i)
	}
	return reqs, nil
}

// viewSpec checks a view's history table against the Parquet contract and
// describes its statement.
func viewSpec(ctx context.Context, dataset *gbigquery.Dataset, ds Dataset, r *viewReq, opt Options) (ViewSpec, error) {
	name := ds.Table(r.view.Name)
	md, err := dataset.Table(r.view.Name).Metadata(ctx)
	if err != nil {
		if isNotFound(err) {
			return ViewSpec{}, fmt.Errorf("view %s: history table %s does not exist (has the view been materialized with SKEWFREE_BIGQUERY set?)", r.view.Name, name)
		}
		return ViewSpec{}, fmt.Errorf("view %s: history table %s: %w", r.view.Name, name, err)
	}
	cols := map[string]gbigquery.FieldType{}
	for _, f := range md.Schema {
		cols[f.Name] = f.Type
	}
	want := func(col string, t features.Type) error {
		got, ok := cols[col]
		if !ok {
			return fmt.Errorf("history table %s has no column %s", name, col)
		}
		if !sameType(got, t) {
			return fmt.Errorf("history table %s: column %s is %s, want %s", name, col, got, t)
		}
		return nil
	}
	if err := want(r.ent.JoinKey, r.ent.KeyType); err != nil {
		return ViewSpec{}, err
	}
	for _, c := range []string{EventTimestamp, CreatedTimestamp} {
		if t, ok := cols[c]; !ok || t != gbigquery.TimestampFieldType {
			return ViewSpec{}, fmt.Errorf("history table %s: column %s must be a TIMESTAMP (have %q)", name, c, t)
		}
	}
	spec := ViewSpec{View: r.view.Name, History: name, JoinKey: r.ent.JoinKey, KeyType: r.ent.KeyType,
		Features: r.feats, Missing: map[string]bool{}, TTL: r.view.TTL, Lateness: r.view.Lateness,
		Visibility: opt.Visibility, AsKnownAt: opt.AsKnownAt, Published: ds.Table(PublishedTable)}
	for _, f := range r.feats {
		if _, ok := cols[f.Name]; !ok {
			spec.Missing[f.Name] = true // no run since the feature was added
			continue
		}
		if err := want(f.Name, f.Type); err != nil {
			return ViewSpec{}, err
		}
	}
	return spec, nil
}

func sameType(got gbigquery.FieldType, t features.Type) bool {
	switch t {
	case features.Int64:
		return got == gbigquery.IntegerFieldType
	case features.Float64:
		return got == gbigquery.FloatFieldType
	case features.String:
		return got == gbigquery.StringFieldType
	case features.Bool:
		return got == gbigquery.BooleanFieldType
	}
	return false
}

// uploadColumns are the join key columns to upload, each once, in request
// order.
func uploadColumns(reqs []*viewReq) []keyColumn {
	var out []keyColumn
	seen := map[string]bool{}
	for _, r := range reqs {
		if !seen[r.ent.JoinKey] {
			seen[r.ent.JoinKey] = true
			out = append(out, keyColumn{r.ent.JoinKey, r.ent.KeyType})
		}
	}
	return out
}

func outTable(client *gbigquery.Client, ds Dataset, name string) *gbigquery.Table {
	if p := strings.Split(name, "."); len(p) == 3 {
		return client.DatasetInProject(p[0], p[1]).Table(p[2])
	}
	return client.DatasetInProject(ds.Project, ds.Name).Table(name)
}

// runJob runs a query job to completion and returns the bytes it processed
// (for a dry run, would process).
func runJob(ctx context.Context, q *gbigquery.Query) (int64, error) {
	job, err := q.Run(ctx)
	if err != nil {
		return 0, fmt.Errorf("bigquery: %w", err)
	}
	var s *gbigquery.JobStatus
	if q.DryRun {
		s = job.LastStatus()
	} else if s, err = job.Wait(ctx); err != nil {
		return 0, fmt.Errorf("bigquery: job %s: %w", job.ID(), err)
	}
	if s == nil {
		return 0, nil
	}
	if err := s.Err(); err != nil {
		return 0, fmt.Errorf("bigquery: job %s: %w", job.ID(), err)
	}
	if s.Statistics == nil {
		return 0, nil
	}
	return s.Statistics.TotalBytesProcessed, nil
}

func setExpiration(ctx context.Context, t *gbigquery.Table, at time.Time) error {
	_, err := t.Update(ctx, gbigquery.TableMetadataToUpdate{ExpirationTime: at}, "")
	return err
}

// readResults fills the feature columns from the final join's rows
// (RowColumn, then one value per feature).
func readResults(ctx context.Context, job *gbigquery.Job, results []*features.Column) error {
	it, err := job.Read(ctx)
	if err != nil {
		return err
	}
	var row []gbigquery.Value
	// Every entity row gets exactly one result row (the join keeps them
	// all): a missing or repeated one is a wrong statement, not a null.
	seen := make([]bool, results[0].Len())
	got := 0
	for {
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			if got != len(seen) {
				return fmt.Errorf("the join returned %d rows for %d entity rows", got, len(seen))
			}
			return nil
		}
		if err != nil {
			return err
		}
		if len(row) != len(results)+1 {
			return fmt.Errorf("result row has %d columns, want %d", len(row), len(results)+1)
		}
		r, ok := row[0].(int64)
		if !ok || r < 0 || int(r) >= results[0].Len() {
			return fmt.Errorf("result row number %v is not one of the %d entity rows", row[0], results[0].Len())
		}
		if seen[r] {
			return fmt.Errorf("the join returned entity row %d twice", r)
		}
		seen[r] = true
		got++
		for i, c := range results {
			v, err := bqstore.ValueOf(row[i+1], c.Type)
			if err != nil {
				return fmt.Errorf("column %s: %w", c.Name, err)
			}
			if err := c.Set(int(r), v); err != nil {
				return fmt.Errorf("column %s: %w", c.Name, err)
			}
		}
	}
}

func tempPrefix() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "_skewfree_ts_" + hex.EncodeToString(b[:]) + "_", nil
}

func isNotFound(err error) bool {
	var e *googleapi.Error
	return errors.As(err, &e) && e.Code == http.StatusNotFound
}
