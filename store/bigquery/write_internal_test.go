package bigquery

import (
	"errors"
	"testing"

	gbigquery "cloud.google.com/go/bigquery"
)

// A job an earlier attempt completed must have loaded the rows the version
// holds now; the emulator reports no count, so this is checked here.
func TestCheckLoaded(t *testing.T) {
	withRows := func(n int64) *gbigquery.JobStatus {
		return &gbigquery.JobStatus{Statistics: &gbigquery.JobStatistics{Details: &gbigquery.LoadStatistics{OutputRows: n}}}
	}
	for _, tc := range []struct {
		name    string
		st      *gbigquery.JobStatus
		want    int64
		got     int64
		failure bool
	}{
		{"same count", withRows(5), 5, 5, false},
		{"recomputed after the load", withRows(5), 7, 5, true},
		{"unknown version size", withRows(5), -1, 5, false},
		{"job reports no count", &gbigquery.JobStatus{}, 7, 7, false},
		{"neither known", &gbigquery.JobStatus{}, -1, -1, false},
	} {
		got, err := checkLoaded("job", "p.d.t", tc.st, tc.want)
		if got != tc.got || (err != nil) != tc.failure {
			t.Errorf("%s: %d, %v; want %d, failure %v", tc.name, got, err, tc.got, tc.failure)
		}
		if err != nil && !errors.Is(err, ErrLoadFailed) {
			t.Errorf("%s: %v is not ErrLoadFailed", tc.name, err)
		}
	}
}
