package demo_test

import (
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
)

// The demo's checks pass on the demo's data, window after window (each
// compared with the one before), so `make dev` shows them green; and every
// view declares some.
func TestDemoChecksPassOnDemoData(t *testing.T) {
	reg := demo.Registry()
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// make dev's data, and the smaller and larger sets the end-to-end tests
	// generate.
	for _, opt := range []demo.GenOptions{
		{Users: 1000, Products: 200, Days: 6, Start: start},
		{Users: 120, Products: 30, Days: 6, Start: start, Seed: 42, ViewsPerUserDay: 6, OrdersPerUserDay: 0.8},
		{Users: 3000, Products: 100, Days: 3, Start: start, Seed: 7, ViewsPerUserDay: 12},
	} {
		checkDemoData(t, reg, opt)
	}
}

func checkDemoData(t *testing.T, reg *features.Registry, opt demo.GenOptions) {
	t.Helper()
	start := opt.Start
	frames, err := demo.Generate(opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range reg.Views() {
		if len(v.Checks) == 0 {
			t.Errorf("view %s declares no checks", v.Name)
		}
		ev := frames[reg.SourceOf(v).Name]
		var prev *features.RunRecord
		for end := start.Add(v.Cadence.Duration()); !end.After(start.Add(time.Duration(opt.Days) * 24 * time.Hour)); end = end.Add(v.Cadence.Duration()) {
			fr, err := features.Compute(reg, v, ev, end, end)
			if err != nil {
				t.Fatal(err)
			}
			stats := features.Profile(fr, v)
			rs := features.RunChecks(v, int64(fr.Len()), stats, prev)
			if failed := features.FailedChecks(rs); len(failed) > 0 {
				t.Errorf("%d users: %s", opt.Users, features.CheckFailureMessage(v.Name, end, failed))
			}
			prev = &features.RunRecord{RowsWritten: int64(fr.Len()), Features: stats}
		}
	}
}
