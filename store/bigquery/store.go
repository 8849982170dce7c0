// Package bigquery is the offline history in BigQuery, written beside the
// Parquet history from the same frames, and a reader of raw sources kept in
// BigQuery tables.
//
// One table per view, named after the view, in the dataset of
// SKEWFREE_BIGQUERY (project.dataset): the offline contract's columns (the
// join key, event_timestamp and created_timestamp as TIMESTAMP, one
// nullable column per feature), time-partitioned on event_timestamp (DAY
// for daily views, HOUR for hourly ones) and clustered by the join key.
// History is append-only: every committed version of a window adds its rows
// as one load job whose id is derived from the version, so a retry adds
// nothing (see AppendVersion); publications go to the _published table
// (see MarkPublished).
//
// The client library is imported as gbigquery throughout Skewfree.
package bigquery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	gbigquery "cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"

	"github.com/skewfree/skewfree/features"
)

// Column names of the offline contract (the same as store/parquet's).
const (
	EventTimestamp   = "event_timestamp"
	CreatedTimestamp = "created_timestamp"
)

// Errors. Each wraps features.ErrInput: retrying cannot fix them (the
// activities mark them non-retryable), and the message names the resource.
var (
	// ErrSchema: a table's schema cannot take the view's rows (a changed
	// type, a missing join key, another partitioning), or a source table
	// lacks a field of the source definition.
	ErrSchema = fmt.Errorf("bigquery schema mismatch: %w", features.ErrInput)
	// ErrNotFound: the dataset (or a source table) does not exist.
	ErrNotFound = fmt.Errorf("bigquery resource not found: %w", features.ErrInput)
	// ErrPermission: the credentials may not do what was asked.
	ErrPermission = fmt.Errorf("bigquery permission denied: %w", features.ErrInput)
)

// Dataset is a BigQuery dataset named project.dataset.
type Dataset struct {
	Project, Dataset string
}

func (d Dataset) String() string { return d.Project + "." + d.Dataset }

// Project ids: 6-30 lowercase letters, digits, hyphens (older ones may hold
// a domain prefix "example.com:"); dataset ids: letters, digits, underscores.
var (
	projectRE = regexp.MustCompile(`^([a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	datasetRE = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	tableRE   = regexp.MustCompile(`^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd} ]+$`)
)

// ParseDataset parses "project.dataset" (SKEWFREE_BIGQUERY).
func ParseDataset(s string) (Dataset, error) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return Dataset{}, fmt.Errorf("bigquery dataset %q: want project.dataset", s)
	}
	p, d := s[:i], s[i+1:]
	if !projectRE.MatchString(p) {
		return Dataset{}, fmt.Errorf("bigquery dataset %q: project %q is not a valid project id", s, p)
	}
	if !datasetRE.MatchString(d) {
		return Dataset{}, fmt.Errorf("bigquery dataset %q: dataset %q is not a valid dataset id (letters, digits, underscores)", s, d)
	}
	return Dataset{Project: p, Dataset: d}, nil
}

// TableRef is a table named project.dataset.table.
type TableRef struct {
	Dataset
	Table string
}

func (t TableRef) String() string { return t.Dataset.String() + "." + t.Table }

// ParseTable parses "project.dataset.table" (a source's Table field). ok is
// false for names that are not fully qualified, which are not BigQuery
// sources (the demo names tables informally).
func ParseTable(s string) (ref TableRef, ok bool, err error) {
	// A domain-scoped project ("example.com:p") holds dots of its own: the
	// table and the dataset are the last two parts.
	if strings.Count(s, ".") < 2 {
		return TableRef{}, false, nil
	}
	i := strings.LastIndexByte(s, '.')
	d, err := ParseDataset(s[:i])
	if err != nil {
		return TableRef{}, true, fmt.Errorf("bigquery table %q: %w", s, err)
	}
	if !tableRE.MatchString(s[i+1:]) {
		return TableRef{}, true, fmt.Errorf("bigquery table %q: %q is not a valid table id", s, s[i+1:])
	}
	return TableRef{Dataset: d, Table: s[i+1:]}, true, nil
}

// Options configure a Store. The zero value of each field is its default.
type Options struct {
	// Project is the Skewfree project (SKEWFREE_PROJECT): it goes into
	// load job ids, so two deployments sharing a Google Cloud project
	// never take each other's jobs for their own. Default "skewfree".
	Project string
	// Logger: default slog.Default().
	Logger *slog.Logger
}

// Store writes views' history to one dataset and reads source tables. It is
// safe for concurrent use; the client stays the caller's to close.
type Store struct {
	client  *gbigquery.Client
	reg     *features.Registry
	dataset Dataset
	// location is the dataset's (US, EU, a region): load jobs run and
	// are looked up there.
	location string
	opts     Options
	// afterLoadInsert, when set (tests), runs after a load job was
	// created and before it is waited for; an error is returned as if the
	// worker had died there.
	afterLoadInsert func(jobID string) error
	// jobErr, when set (tests), gives a waited-for job an error of its
	// own (a failed load, which the emulator never reports).
	jobErr func(jobID string) error
}

// Open returns a store writing reg's views into ds through client, after
// checking that the dataset exists and may be read: a missing dataset or
// a permission problem is reported here, naming it, not at the first run.
func Open(ctx context.Context, client *gbigquery.Client, reg *features.Registry, ds Dataset, opts Options) (*Store, error) {
	if opts.Project == "" {
		opts.Project = "skewfree"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Store{client: client, reg: reg, dataset: ds, opts: opts}
	md, err := s.ds().Metadata(ctx)
	if err != nil {
		return nil, resourceError("dataset "+ds.String(), err)
	}
	s.location = md.Location
	return s, nil
}

// Dataset is the dataset the store writes to.
func (s *Store) Dataset() Dataset { return s.dataset }

func (s *Store) ds() *gbigquery.Dataset {
	return s.client.DatasetInProject(s.dataset.Project, s.dataset.Dataset)
}

// resourceError names what failed and marks not-found and permission
// errors with ErrNotFound and ErrPermission.
func resourceError(what string, err error) error {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		switch ge.Code {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %s does not exist (%s)%w", ErrNotFound, what, ge.Message, cause{err})
		case http.StatusForbidden, http.StatusUnauthorized:
			return fmt.Errorf("%w: %s: %s%w", ErrPermission, what, ge.Message, cause{err})
		}
	}
	return fmt.Errorf("bigquery: %s: %w", what, err)
}

// cause keeps an error in a chain (errors.As still finds the API error)
// without repeating its text in the message.
type cause struct{ err error }

func (cause) Error() string   { return "" }
func (c cause) Unwrap() error { return c.err }

func isNotFound(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusNotFound
}
