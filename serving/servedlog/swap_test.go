package servedlog_test

import (
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/servedlog"
)

// The reader service follows the published catalog (catalogsync), so a
// running reader may serve a feature under a newer definition than the
// registry the logger was made with. A feature whose type changed, or a
// view the logger never heard of, is still logged with the type of what
// was served: nothing accepted is lost to a failed write.
func TestLogsWhatWasServedAfterACatalogSwap(t *testing.T) {
	at := time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		ref  features.FeatureRef
		val  features.Value
	}{
		// wide_0:f00 is int64 in the logger's registry; the new catalog
		// made it a float64.
		{"type changed", features.FeatureRef{View: "wide_0", Feature: "f00"}, features.FloatValue(2.5)},
		{"type changed to string", features.FeatureRef{View: "wide_0", Feature: "f01"}, features.StringValue("x")},
		{"new view", features.FeatureRef{View: "brand_new", Feature: "n"}, features.IntValue(7)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := servedlog.New(reg, servedlog.Dir(dir), servedlog.Options{Rate: 1, FlushInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			res := &serving.Result{Features: []features.FeatureRef{tc.ref}, JoinKeys: []string{"user_id"},
				Rows: [][]serving.FeatureValue{
					{{Value: tc.val, Status: serving.Present, EventTime: at.Add(-time.Hour)}},
					{{}},
				}}
			l.Served(at, serving.Entities{"user_id": serving.StringKeys("a", "b")}, res)
			if err := l.Close(); err != nil {
				t.Fatalf("Close: %v (the served rows were lost)", err)
			}
			if st := l.Stats(); st.Written != 2 || st.Failed != 0 {
				t.Fatalf("stats %+v: want both rows written", st)
			}
			logs := readAll(t, dir)
			if len(logs) != 1 || logs[0].Len() != 2 {
				t.Fatalf("want one file of 2 rows, got %d files", len(logs))
			}
			got := logs[0].Values[0]
			if got.Type != tc.val.Type() || !got.Value(0).Equal(tc.val) || !got.Value(1).IsNull() {
				t.Fatalf("logged %s column %v, %v; want %v, null", got.Type, got.Value(0), got.Value(1), tc.val)
			}
		})
	}
}
