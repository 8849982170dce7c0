package bigquery

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	gbigquery "cloud.google.com/go/bigquery"

	"github.com/skewfree/skewfree/features"
)

// maxJobAttempts bounds the load jobs one run may start: a run's next job
// id is taken only when the previous one failed (a failed load adds no
// rows).
const maxJobAttempts = 8

// AppendWindow appends a run's rows of a view's window (shard -1: the whole
// window) to the view's table, creating the table or adding columns for new
// features first (see ensureTable). It returns the rows the run's load
// added.
//
// Exactly once: the rows go in one load job (atomic: all rows or none)
// whose id is derived from the deployment, dataset, view, window end,
// created time and shard (JobID). BigQuery refuses a second job with an
// id it knows, so a retry of the same run looks the job up first and, when
// it succeeded, only waits for it: it adds nothing. Only when that job
// failed does the retry load under the next id (<id>-r1, -r2, ...).
//
// The rows travel as newline-delimited JSON, timestamps as RFC 3339 with
// microseconds: exact, and what the BigQuery emulator also loads exactly.
func (s *Store) AppendWindow(ctx context.Context, view string, end, created time.Time, shard int, f *features.Frame) (int64, error) {
	sp, err := s.specOf(view)
	if err != nil {
		return 0, err
	}
	if err := checkFrame(sp, f); err != nil {
		return 0, err
	}
	if err := s.ensureTable(ctx, sp); err != nil {
		return 0, err
	}
	name := s.dataset.String() + "." + sp.view
	base := s.JobID(view, end, created, shard)
	for attempt := range maxJobAttempts {
		id := base
		if attempt > 0 {
			id += "-r" + strconv.Itoa(attempt)
		}
		job, err := s.client.JobFromProject(ctx, s.client.Project(), id, s.location)
		switch {
		case err == nil:
			// An earlier attempt of this run started the job.
			st, err := job.Wait(ctx)
			if err != nil {
				return 0, fmt.Errorf("bigquery: wait for load job %s into %s: %w", id, name, err)
			}
			if st.Err() != nil {
				s.opts.Logger.Warn("bigquery load job of an earlier attempt failed; loading again", "job", id, "table", name, "error", st.Err())
				continue
			}
			s.opts.Logger.Info("bigquery load already done by an earlier attempt", "job", id, "table", name)
			return loadedRows(st, f), nil
		case !isNotFound(err):
			return 0, resourceError("load job "+id, err)
		}
		n, retry, err := s.load(ctx, sp, id, f)
		if retry {
			continue
		}
		return n, err
	}
	return 0, fmt.Errorf("bigquery: load into %s: %d load jobs of run %s failed", name, maxJobAttempts, base)
}

// load runs one load job. retry is true when the job ran and failed (it
// added nothing; the caller may try the next id).
func (s *Store) load(ctx context.Context, sp tableSpec, id string, f *features.Frame) (rows int64, retry bool, err error) {
	name := s.dataset.String() + "." + sp.view
	pr, pw := io.Pipe()
	encoded := make(chan error, 1)
	go func() {
		var err error
		defer func() { encoded <- err }()
		defer func() { pw.CloseWithError(err) }()
		defer features.RecoverPanic(&err, "bigquery: encode rows of "+name)
		err = writeNDJSON(pw, sp, f)
	}()
	src := gbigquery.NewReaderSource(pr)
	src.SourceFormat = gbigquery.JSON
	ld := s.ds().Table(sp.view).LoaderFrom(src)
	ld.JobID = id
	ld.Location = s.location
	ld.WriteDisposition = gbigquery.WriteAppend
	ld.CreateDisposition = gbigquery.CreateNever
	ld.Labels = map[string]string{"skewfree_view": sp.view}
	job, err := ld.Run(ctx)
	pr.CloseWithError(errors.New("load request ended"))
	encErr := <-encoded
	if err != nil {
		// Another attempt may have created the job meanwhile (BigQuery
		// says 409 Already Exists; the emulator 500 "already created"):
		// it is the run's job then.
		j, lerr := s.client.JobFromProject(ctx, s.client.Project(), id, s.location)
		if lerr == nil && isDuplicateJob(err) {
			job = j
		} else {
			if encErr != nil && !errors.Is(encErr, io.ErrClosedPipe) {
				err = errors.Join(err, encErr)
			}
			return 0, false, resourceError("load into table "+name, err)
		}
	}
	if s.afterLoadInsert != nil {
		if err := s.afterLoadInsert(id); err != nil {
			return 0, false, err
		}
	}
	st, err := job.Wait(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("bigquery: wait for load job %s into %s: %w", id, name, err)
	}
	if st.Err() != nil {
		s.opts.Logger.Warn("bigquery load job failed", "job", id, "table", name, "error", st.Err(), "details", st.Errors)
		return 0, true, nil
	}
	s.opts.Logger.Info("bigquery rows appended", "table", name, "job", id, "rows", f.Len())
	return loadedRows(st, f), false, nil
}

// loadedRows is the job's output row count, or the frame's when the job
// does not report one (the emulator).
func loadedRows(st *gbigquery.JobStatus, f *features.Frame) int64 {
	if st != nil && st.Statistics != nil {
		if ls, ok := st.Statistics.Details.(*gbigquery.LoadStatistics); ok && ls.OutputRows > 0 {
			return ls.OutputRows
		}
	}
	return int64(f.Len())
}

// JobID is the load job id of a run's window (or shard): deterministic, so
// every attempt of one run names the same job, and distinct for distinct
// deployments, datasets, views, windows, versions and shards.
func (s *Store) JobID(view string, end, created time.Time, shard int) string {
	return JobIDOf(s.dataset, s.opts.Project, view, end, created, shard)
}

// JobIDOf is the load job id of a run of project (the Skewfree deployment)
// writing view's window ending at end, version created, shard (-1: whole)
// into ds: skewfree_<project>_<dataset>_<view>_<end>_<created µs>_<shard>_<hash
// of ds>, only letters, digits, '_' and '-' as job ids allow.
func JobIDOf(ds Dataset, project, view string, end, created time.Time, shard int) string {
	h := fnv.New32a()
	_, _ = io.WriteString(h, ds.String())
	part := "all"
	if shard >= 0 {
		part = "s" + strconv.Itoa(shard)
	}
	return fmt.Sprintf("skewfree_%s_%s_%s_%s_%d_%s_%08x", project, ds.Dataset, view,
		end.UTC().Format("20060102T150405Z"), created.UnixMicro(), part, h.Sum32())
}

// checkFrame reports a frame that is not the view's rows.
func checkFrame(sp tableSpec, f *features.Frame) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("bigquery: view %s: %w", sp.view, err)
	}
	if f.Key == nil || f.Key.Type != sp.keyType || len(f.Created) != f.Len() {
		return fmt.Errorf("%w: view %s: frame lacks its %s join key or created times", features.ErrInput, sp.view, sp.keyType)
	}
	if len(f.Columns) != len(sp.features) {
		return fmt.Errorf("%w: view %s: frame has %d feature columns, the view %d", features.ErrInput, sp.view, len(f.Columns), len(sp.features))
	}
	for i, c := range f.Columns {
		if c.Name != sp.features[i].Name || c.Type != sp.features[i].Type {
			return fmt.Errorf("%w: view %s: frame column %d is %s %s, the view's feature %s %s", features.ErrInput, sp.view, i, c.Name, c.Type,
				sp.features[i].Name, sp.features[i].Type)
		}
	}
	return nil
}

// tsFormat is RFC 3339 with microseconds, what TIMESTAMP columns load
// exactly from JSON.
const tsFormat = "2006-01-02T15:04:05.000000Z"

// writeNDJSON writes the frame's rows as newline-delimited JSON objects.
func writeNDJSON(w io.Writer, sp tableSpec, f *features.Frame) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 256)
	for i := range f.Len() {
		buf = append(buf[:0], '{')
		buf = appendField(buf, sp.joinKey, f.Key, i, true)
		buf = append(buf, `,"`+EventTimestamp+`":"`...)
		buf = features.FromMicros(f.Time[i]).UTC().AppendFormat(buf, tsFormat)
		buf = append(buf, `","`+CreatedTimestamp+`":"`...)
		buf = features.FromMicros(f.Created[i]).UTC().AppendFormat(buf, tsFormat)
		buf = append(buf, '"')
		for _, c := range f.Columns {
			buf = appendField(buf, c.Name, c, i, false)
		}
		buf = append(buf, '}', '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendField appends `,"name":value` (without the comma when first),
// value null for a null.
func appendField(buf []byte, name string, c *features.Column, i int, first bool) []byte {
	if !first {
		buf = append(buf, ',')
	}
	buf = append(appendJSONString(buf, name), ':')
	if !c.Valid[i] {
		return append(buf, "null"...)
	}
	switch c.Type {
	case features.Int64:
		buf = strconv.AppendInt(buf, c.Ints[i], 10)
	case features.Float64:
		v := c.Floats[i]
		switch {
		case math.IsNaN(v):
			buf = append(buf, `"NaN"`...)
		case math.IsInf(v, 1):
			buf = append(buf, `"Infinity"`...)
		case math.IsInf(v, -1):
			buf = append(buf, `"-Infinity"`...)
		default:
			buf = strconv.AppendFloat(buf, v, 'g', -1, 64)
		}
	case features.String:
		buf = appendJSONString(buf, c.Strings[i])
	case features.Bool:
		buf = strconv.AppendBool(buf, c.Bools[i])
	}
	return buf
}

// appendJSONString appends s as a JSON string.
func appendJSONString(buf []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(buf, b...)
}

// isDuplicateJob reports the refusal of a job id already taken.
func isDuplicateJob(err error) bool {
	if isConflict(err) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "already created") || strings.Contains(msg, "Already Exists")
}
