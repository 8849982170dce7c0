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

// maxJobAttempts bounds the load jobs one version may start: a next job id
// is taken only when the previous job ran and failed (a failed load adds no
// rows). Each failure also fails the activity attempt, so Temporal's retry
// backoff spaces them; past the bound the run fails for good.
const maxJobAttempts = 20

// ErrLoadFailed: BigQuery refused every load of a version (maxJobAttempts
// jobs failed, or one failed on its rows: invalid data is not fixed by
// retrying). It wraps features.ErrInput, so the run fails without retries.
var ErrLoadFailed = fmt.Errorf("bigquery load failed: %w", features.ErrInput)

// Frames yields a version's rows frame by frame (the Parquet files of a
// committed version, read back). It may be called more than once: each
// load job reads it from the start.
type Frames = func(yield func(*features.Frame) error) error

// FramesOf yields fs.
func FramesOf(fs ...*features.Frame) Frames {
	return func(yield func(*features.Frame) error) error {
		for _, f := range fs {
			if err := yield(f); err != nil {
				return err
			}
		}
		return nil
	}
}

// Prepare creates the view's table or checks that it takes the view's rows
// (adding columns for new features): a run calls it before it writes
// anything, so an incompatible table fails the run with nothing written.
func (s *Store) Prepare(ctx context.Context, view string) error {
	sp, err := s.specOf(view)
	if err != nil {
		return err
	}
	return s.ensureTable(ctx, sp)
}

// AppendVersion appends one committed version of a view's window (every
// row the run wrote to the Parquet history, all shards) to the view's
// table, and returns the rows it holds.
//
// Exactly once per version: the rows go in one load job (atomic: all rows
// or none) whose id is derived from the deployment, dataset, view, window
// end and created time (JobID). BigQuery refuses a second job with an id
// it knows, so a retry looks the job up first and, when it succeeded, only
// waits for it: it adds nothing. Only when that job failed does a later
// attempt load under the next id (<id>-r1, -r2, ...).
//
// Being called once per committed version, after the run's checks and
// shard commit, is what makes BigQuery hold exactly the Parquet history:
// a retried computation, a shard-count change or a discarded run never
// reaches it (see activities.AppendHistory).
//
// The rows travel as newline-delimited JSON, timestamps as RFC 3339 with
// microseconds: exact, and what the BigQuery emulator also loads exactly.
func (s *Store) AppendVersion(ctx context.Context, view string, end, created time.Time, want int64, rows Frames) (int64, error) {
	sp, err := s.specOf(view)
	if err != nil {
		return 0, err
	}
	if err := s.ensureTable(ctx, sp); err != nil {
		return 0, err
	}
	name := s.dataset.String() + "." + sp.view
	return s.loadOnce(ctx, s.JobID(view, end, created), name, want, s.ds().Table(sp.view), map[string]string{"skewfree_view": labelValue(sp.view)},
		func(w io.Writer) (int64, error) {
			var n int64
			err := rows(func(f *features.Frame) error {
				if err := checkFrame(sp, f); err != nil {
					return err
				}
				if err := checkVersion(sp, f, end, created); err != nil {
					return err
				}
				n += int64(f.Len())
				return writeNDJSON(w, sp, f)
			})
			return n, err
		})
}

// maxInvalid is how many jobs of a version may be refused for their rows
// before the version fails for good: one more than one, since a column
// just added to a table may not yet be visible to the first load.
const maxInvalid = 2

// loadOnce runs the load job named base (or the first of base-rN not yet
// failed) into table, exactly once, with encode writing its NDJSON rows.
// want is the rows the version holds (-1: unknown): a job an earlier
// attempt completed must have loaded as many (a version recomputed after
// its load, with the same created time, would otherwise differ silently).
func (s *Store) loadOnce(ctx context.Context, base, name string, want int64, table *gbigquery.Table, labels map[string]string, encode func(io.Writer) (int64, error)) (int64, error) {
	var lastErr error
	invalid := 0
	for attempt := range maxJobAttempts {
		id := base
		if attempt > 0 {
			id += "-r" + strconv.Itoa(attempt)
		}
		job, err := s.client.JobFromProject(ctx, s.client.Project(), id, s.location)
		switch {
		case err == nil:
			// An earlier attempt started this job.
			st, jobErr, err := s.wait(ctx, job)
			if err != nil {
				return 0, fmt.Errorf("bigquery: wait for load job %s into %s: %w", id, name, err)
			}
			if jobErr == nil {
				s.opts.Logger.Info("bigquery load already done by an earlier attempt", "job", id, "table", name)
				return checkLoaded(id, name, st, want)
			}
			if invalidRows(jobErr) {
				if invalid++; invalid >= maxInvalid {
					return 0, fmt.Errorf("%w: load job %s into %s refused the rows: %w", ErrLoadFailed, id, name, jobErr)
				}
			}
			lastErr = jobErr
			continue
		case !isNotFound(err):
			return 0, resourceError("load job "+id, err)
		}
		return s.load(ctx, id, name, table, labels, encode, invalid)
	}
	return 0, fmt.Errorf("%w: %d load jobs into %s failed (%s...-r%d), the last with: %w", ErrLoadFailed, maxJobAttempts, name, base, maxJobAttempts-1, lastErr)
}

// load runs one load job. A job that ran and failed is an error of this
// attempt (retryable unless its rows are invalid); the next attempt loads
// under the next id.
func (s *Store) load(ctx context.Context, id, name string, table *gbigquery.Table, labels map[string]string, encode func(io.Writer) (int64, error), invalid int) (int64, error) {
	pr, pw := io.Pipe()
	type encoded struct {
		rows int64
		err  error
	}
	done := make(chan encoded, 1)
	go func() {
		var e encoded
		defer func() { done <- e }()
		defer func() { pw.CloseWithError(e.err) }()
		defer features.RecoverPanic(&e.err, "bigquery: encode rows of "+name)
		e.rows, e.err = encode(pw)
	}()
	src := gbigquery.NewReaderSource(pr)
	src.SourceFormat = gbigquery.JSON
	ld := table.LoaderFrom(src)
	ld.JobID = id
	ld.Location = s.location
	ld.WriteDisposition = gbigquery.WriteAppend
	ld.CreateDisposition = gbigquery.CreateNever
	ld.Labels = labels
	job, err := ld.Run(ctx)
	pr.CloseWithError(errLoadEnded)
	enc := <-done
	if enc.err != nil && !errors.Is(enc.err, errLoadEnded) && !errors.Is(enc.err, io.ErrClosedPipe) {
		// The rows could not be read or encoded: whatever the request
		// did, it must not be the version's load. A job that was created
		// from a cut stream is cancelled best effort; its id stays taken
		// and the next attempt loads under the next one.
		if err == nil {
			_ = job.Cancel(ctx)
		}
		return 0, fmt.Errorf("bigquery: rows of load job %s into %s: %w", id, name, enc.err)
	}
	if err != nil {
		// Another attempt may have created the job meanwhile (BigQuery
		// says 409 Already Exists; the emulator 500 "already created"):
		// it is the version's job then.
		j, lerr := s.client.JobFromProject(ctx, s.client.Project(), id, s.location)
		if lerr != nil || !isDuplicateJob(err) {
			return 0, resourceError("load into table "+name, err)
		}
		job = j
	}
	if s.afterLoadInsert != nil {
		if err := s.afterLoadInsert(id); err != nil {
			return 0, err
		}
	}
	st, jobErr, err := s.wait(ctx, job)
	if err != nil {
		return 0, fmt.Errorf("bigquery: wait for load job %s into %s: %w", id, name, err)
	}
	if jobErr != nil {
		s.opts.Logger.Warn("bigquery load job failed", "job", id, "table", name, "error", jobErr, "details", st.Errors)
		if invalidRows(jobErr) && invalid+1 >= maxInvalid {
			return 0, fmt.Errorf("%w: load job %s into %s refused the rows: %w", ErrLoadFailed, id, name, jobErr)
		}
		return 0, fmt.Errorf("bigquery: load job %s into %s failed (the next attempt loads again): %w", id, name, jobErr)
	}
	s.opts.Logger.Info("bigquery rows appended", "table", name, "job", id, "rows", enc.rows)
	return loadedRows(st, enc.rows), nil
}

// errLoadEnded is what the encoder's writes get once the load request
// returned: not an encoding error of its own.
var errLoadEnded = errors.New("bigquery: load request ended")

// checkLoaded returns the rows a completed job loaded, or an error when the
// job reports a count that is not want (both known).
func checkLoaded(id, name string, st *gbigquery.JobStatus, want int64) (int64, error) {
	got := loadedRows(st, -1)
	if want >= 0 && got >= 0 && got != want {
		return got, fmt.Errorf("%w: load job %s into %s loaded %d rows of this version, which now holds %d: the version was recomputed after its load "+
			"(same created_timestamp); run the window again (a new version) to correct BigQuery", ErrLoadFailed, id, name, got, want)
	}
	if got < 0 {
		got = want
	}
	return got, nil
}

// wait waits for job to be done and returns its status and its error
// (jobErr: the job ran and failed), or err when waiting failed. In tests
// the jobErr hook may stand for the job's own.
func (s *Store) wait(ctx context.Context, job *gbigquery.Job) (st *gbigquery.JobStatus, jobErr, err error) {
	st, err = job.Wait(ctx)
	if err != nil {
		return nil, nil, err
	}
	jobErr = st.Err()
	if s.jobErr != nil {
		if e := s.jobErr(job.ID()); e != nil {
			jobErr = e
		}
	}
	return st, jobErr, nil
}

// invalidRows reports a job that failed on its input (reason "invalid"):
// loading the same rows again fails again.
func invalidRows(jobErr error) bool {
	var e *gbigquery.Error
	return errors.As(jobErr, &e) && e.Reason == "invalid"
}

// loadedRows is the job's output row count, or encoded when the job does
// not report one (the emulator); -1 when neither is known.
func loadedRows(st *gbigquery.JobStatus, encoded int64) int64 {
	if st != nil && st.Statistics != nil {
		if ls, ok := st.Statistics.Details.(*gbigquery.LoadStatistics); ok && ls.OutputRows > 0 {
			return ls.OutputRows
		}
	}
	return encoded
}

// JobID is the load job id of a version of a view's window: deterministic,
// so every attempt names the same job, and distinct for distinct
// deployments, datasets, views, windows and versions.
func (s *Store) JobID(view string, end, created time.Time) string {
	return JobIDOf(s.dataset, s.opts.Project, "history", view, end, created)
}

// JobIDOf is the id of the load job of kind ("history", "published") for
// project (the Skewfree deployment) and view's window ending at end,
// version created, into ds: skewfree_<kind>_<view>_<end>_<created µs>_<hash>,
// the hash over every component (so names holding '_' never collide), only
// letters, digits, '_' and '-' as job ids allow.
func JobIDOf(ds Dataset, project, kind, view string, end, created time.Time) string {
	h := fnv.New64a()
	for _, part := range []string{ds.String(), project, kind, view, end.UTC().Format(time.RFC3339Nano), strconv.FormatInt(created.UnixMicro(), 10)} {
		_, _ = io.WriteString(h, part)
		_, _ = h.Write([]byte{0})
	}
	return fmt.Sprintf("skewfree_%s_%s_%s_%d_%016x", kind, jobIDPart(view),
		end.UTC().Format("20060102T150405Z"), created.UnixMicro(), h.Sum64())
}

// jobIDPart keeps the job-id characters of s (the hash keeps ids distinct),
// at most 200 of them.
func jobIDPart(s string) string {
	b := []byte(s)
	out := b[:0]
	for _, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			out = append(out, c)
		}
	}
	if len(out) > 200 {
		out = out[:200]
	}
	return string(out)
}

// labelValue is s as a label value: lowercase letters, digits, '_', '-',
// at most 63 characters.
func labelValue(s string) string {
	b := []byte(strings.ToLower(s))
	out := b[:0]
	for _, c := range b {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			out = append(out, c)
		}
	}
	if len(out) > 63 {
		out = out[:63]
	}
	return string(out)
}

// checkVersion reports rows that are not the version's: every row of a
// window's version has event_timestamp = end and created_timestamp =
// created (what the job id promises).
func checkVersion(sp tableSpec, f *features.Frame, end, created time.Time) error {
	e, c := features.Micros(end), features.Micros(created)
	for i := range f.Len() {
		if f.Time[i] != e || f.Created[i] != c {
			return fmt.Errorf("%w: view %s: row %d has event_timestamp %s and created_timestamp %s, the version's are %s and %s", features.ErrInput, sp.view, i,
				features.FromMicros(f.Time[i]).Format(time.RFC3339Nano), features.FromMicros(f.Created[i]).Format(time.RFC3339Nano),
				end.UTC().Format(time.RFC3339Nano), created.UTC().Format(time.RFC3339Nano))
		}
	}
	return nil
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
