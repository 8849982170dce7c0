package bqjoin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/trainingset"
)

// A fresh view's training values come from logged events, not history
// tables: the BigQuery engine refuses it rather than joining batch windows.
func TestPlanRefusesFreshViews(t *testing.T) {
	reg := demo.Registry()
	path := filepath.Join(t.TempDir(), "labels.csv")
	if err := os.WriteFile(path, []byte("user_id,event_timestamp\nu000001,2026-11-20T00:00:00Z\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref   string
		fresh bool
	}{
		{"user_live:page_views_5m", true},
		{"user_orders:order_count_7d", false},
	}
	for _, tc := range tests {
		ref, err := features.ParseRef(tc.ref)
		if err != nil {
			t.Fatal(err)
		}
		in, err := trainingset.OpenEntityTable(reg, path, []features.FeatureRef{ref})
		if err != nil {
			t.Fatal(err)
		}
		_, err = plan(reg, in, Options{Entities: path, Features: []features.FeatureRef{ref}})
		if got := err != nil && strings.Contains(err.Error(), "is fresh"); got != tc.fresh {
			t.Errorf("%s: plan error %v, want a fresh-view refusal: %v", tc.ref, err, tc.fresh)
		}
	}
}
