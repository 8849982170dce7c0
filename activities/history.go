package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/pipeline"
)

// History is a second history of every view (BigQuery, see
// store/bigquery) that holds exactly the versions the offline store holds.
// It gets a version only once the version is committed (AppendHistory:
// after the run's checks and shard commit, so no retried computation, no
// changed shard count and no discarded run reaches it), and its
// publication after the Parquet marker (MarkPublished). Both are exactly
// once per (view, window end, created): a retry adds nothing. Errors
// wrapping features.ErrInput (a schema the rows cannot go into, a missing
// dataset) fail the run without retries. Implementations are safe for
// concurrent use.
type History interface {
	// Prepare makes sure the view's rows can be appended (creating or
	// extending its table) before the run writes anything.
	Prepare(ctx context.Context, view string) error
	// AppendVersion appends the version's want rows, which rows yields.
	AppendVersion(ctx context.Context, view string, end, created time.Time, want int64, rows func(yield func(*features.Frame) error) error) (int64, error)
	MarkPublished(ctx context.Context, view string, end, created, published time.Time) error
	// AppendRuns appends a run's records (every shard's) at a stage
	// ("committed", "published"), exactly once per (version, stage).
	AppendRuns(ctx context.Context, stage string, recs []features.RunRecord) error
}

// TableSources reads each source from where it lives: from Tables when
// IsTable says its Table field names a warehouse table (BigQuery's
// project.dataset.table), from Files otherwise. A table source is read
// from Files when Tables is nil and it has a Path too; without a Path it
// is an error naming the source.
type TableSources struct {
	Files   pipeline.SourceReader
	Tables  pipeline.SourceReader // nil: no warehouse configured
	IsTable func(*features.Source) bool
}

var _ ShardReader = TableSources{}

func (s TableSources) pick(src *features.Source) (pipeline.SourceReader, error) {
	if s.IsTable == nil || !s.IsTable(src) {
		return s.Files, nil
	}
	if s.Tables != nil {
		return s.Tables, nil
	}
	if src.Path != "" {
		return s.Files, nil
	}
	return nil, fmt.Errorf("%w: source %s is the BigQuery table %s, and no BigQuery is configured (set SKEWFREE_BIGQUERY)", features.ErrInput, src.Name, src.Table)
}

// Read reads src's events in [from, to) from where it lives.
func (s TableSources) Read(ctx context.Context, src *features.Source, from, to time.Time) (*features.Frame, error) {
	r, err := s.pick(src)
	if err != nil {
		return nil, err
	}
	return r.Read(ctx, src, from, to)
}

// ReadShard reads one shard of src's events: through the reader's own
// ReadShard when it has one, else whole and filtered.
func (s TableSources) ReadShard(ctx context.Context, src *features.Source, from, to time.Time, key string, i, n int) (*features.Frame, error) {
	r, err := s.pick(src)
	if err != nil {
		return nil, err
	}
	if sr, ok := r.(ShardReader); ok {
		return sr.ReadShard(ctx, src, from, to, key, i, n)
	}
	ev, err := r.Read(ctx, src, from, to)
	if err != nil {
		return nil, err
	}
	return shardOf(ev, key, i, n), nil
}
