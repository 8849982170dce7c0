package parquet

import (
	"context"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
)

func TestRunRecordsRoundTripAndRange(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	pub := day.Add(3*time.Hour + 123456*time.Microsecond)
	mean := 2.5
	recs := []features.RunRecord{
		{View: "v", WindowEnd: day.Add(24 * time.Hour), Created: day.Add(26 * time.Hour), Shard: -1, Status: features.RunOK},
		{View: "v", WindowEnd: day, Created: day.Add(3 * time.Hour), Shard: 1, Status: features.RunFlagged},
		{View: "v", WindowEnd: day, Created: day.Add(2 * time.Hour), Shard: -1, Published: &pub, Status: features.RunOK,
			Features: []features.FeatureStats{{Name: "f", Type: features.Float64, Rows: 4, Nulls: 1, Mean: &mean}}},
	}
	for _, r := range recs {
		if err := s.WriteRunRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// Rewriting a run's record replaces it.
	recs[0].RowsWritten = 7
	if err := s.WriteRunRecord(ctx, recs[0]); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		from, to time.Time
		want     []int // indexes into recs, in the expected order
	}{
		{"all", time.Time{}, time.Time{}, []int{2, 1, 0}},
		{"first day", day, day.Add(time.Hour), []int{2, 1}},
		{"second day", day.Add(time.Hour), time.Time{}, []int{0}},
		{"none", day.Add(48 * time.Hour), time.Time{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.RunRecords(ctx, "v", tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d records, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				r := recs[w]
				if !got[i].WindowEnd.Equal(r.WindowEnd) || !got[i].Created.Equal(r.Created) || got[i].Shard != r.Shard || got[i].Status != r.Status {
					t.Errorf("record %d = %+v, want %+v", i, got[i], r)
				}
			}
		})
	}
	all, _ := s.RunRecords(ctx, "v", time.Time{}, time.Time{})
	if all[2].RowsWritten != 7 {
		t.Errorf("rewritten record has rows %d, want 7", all[2].RowsWritten)
	}
	if all[0].Published == nil || !all[0].Published.Equal(pub) || all[0].Features[0].Mean == nil || *all[0].Features[0].Mean != mean {
		t.Errorf("record did not round-trip: %+v", all[0])
	}
	if err := s.WriteRunRecord(ctx, features.RunRecord{View: "../x", WindowEnd: day, Created: day}); err == nil {
		t.Error("a view name with a path separator was accepted")
	}
}

func TestAge(t *testing.T) {
	v := &features.View{Cadence: features.Daily, Lateness: 2 * time.Hour}
	end := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		last, now time.Time
		age       time.Duration
		stale     bool
	}{
		{"never published", time.Time{}, end, 0, true},
		{"just published", end, end.Add(2 * time.Hour), 2 * time.Hour, false},
		{"next run due, not overdue", end, end.Add(26 * time.Hour), 26 * time.Hour, false},
		{"overdue", end, end.Add(26*time.Hour + time.Microsecond), 26*time.Hour + time.Microsecond, true},
	}
	for _, tc := range tests {
		age, stale := features.Age(v, tc.last, tc.now)
		if age != tc.age || stale != tc.stale {
			t.Errorf("%s: Age = %v, %v; want %v, %v", tc.name, age, stale, tc.age, tc.stale)
		}
	}
}
