package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/catalog/web"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// Evil is registry text that must render as text.
const Evil = `Paid orders <script>window.pwned = true</script><b>bold?</b> & "quotes"`

var day0 = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// testRegistry: a shop with a fresh daily view (one feature described with
// HTML), a stale hourly view, and a service using the first.
func testRegistry(t testing.TB) *features.Registry {
	t.Helper()
	reg := features.NewRegistry()
	paid := &features.Predicate{Column: "status", Op: features.Eq, Value: features.StringValue("paid")}
	err := reg.Register(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.String, Description: "a shopper"},
		&features.Source{Name: "orders", Path: "orders", TimestampField: "ts", Description: "orders placed",
			Fields: []features.Field{{Name: "user_id", Type: features.String}, {Name: "amount", Type: features.Float64}, {Name: "status", Type: features.String}}},
		&features.View{Name: "user_spend", Entity: "user", Source: "orders", Cadence: features.Daily, TTL: 3 * 24 * time.Hour, Lateness: 2 * time.Hour,
			Owner: "risk@shop.example", Description: "What each user spends.", Tags: map[string]string{"domain": "orders", "pii": "no"},
			Aggregations: []features.Aggregation{
				{Name: "paid_orders_30d", Kind: features.Count, Window: 30 * 24 * time.Hour, Where: paid, Description: Evil},
				{Name: "avg_paid_amount_30d", Kind: features.Mean, Column: "amount", Window: 30 * 24 * time.Hour, Where: paid, Description: "mean amount of paid orders"},
			},
			// The runs below hold max_null_rate results; min_rows was added since.
			Checks: []features.Check{features.MaxNullRate("avg_paid_amount_30d", 0.05), features.MinRows(1)}},
		&features.View{Name: "user_clicks", Entity: "user", Source: "orders", Cadence: features.Hourly, Owner: "recsys@shop.example",
			Description: "Clicks.", Aggregations: []features.Aggregation{{Name: "orders_1h", Kind: features.Count, Window: time.Hour, Description: "orders in the last hour"}}},
		&features.Service{Name: "checkout_fraud", Owner: "risk@shop.example", Description: "Scores checkouts.",
			Features: []string{"user_spend:paid_orders_30d", "user_spend:avg_paid_amount_30d"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// testRuns writes 14 daily windows of user_spend (the 10th with a failed
// check) and one old hourly window of user_clicks.
func testRuns(t testing.TB) *parquet.Store {
	t.Helper()
	s, err := parquet.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 13; i >= 0; i-- {
		end := day0.Add(-time.Duration(i) * 24 * time.Hour)
		pub := end.Add(2*time.Hour + 5*time.Minute)
		rows := int64(1000 + 37*(13-i))
		nulls := int64(20 + 3*(i%4))
		mean := 40 + float64((13-i)%5)*2.5
		count := 3 + float64(13-i)/4
		r := features.RunRecord{View: "user_spend", WindowStart: end.Add(-24 * time.Hour), WindowEnd: end, Created: end.Add(2 * time.Hour),
			Published: &pub, Shard: -1, Status: features.RunOK, EventsRead: rows * 3, RowsWritten: rows, DurationMS: 800 + int64(i)*10,
			Features: []features.FeatureStats{
				{Name: "paid_orders_30d", Type: features.Int64, Rows: rows, Mean: &count},
				{Name: "avg_paid_amount_30d", Type: features.Float64, Rows: rows, Nulls: nulls, Mean: &mean},
			},
			Checks: []features.CheckResult{{Feature: "avg_paid_amount_30d", Check: "max_null_rate", Value: float64(nulls) / float64(rows), Bound: 0.05, Passed: true}}}
		if i == 3 {
			r.Status = features.RunFlagged
			r.Features[1].Nulls = rows / 4
			r.Checks[0] = features.CheckResult{Feature: "avg_paid_amount_30d", Check: "max_null_rate", Value: 0.25, Bound: 0.05, Passed: false,
				Message: "null rate 0.25 above 0.05"}
		}
		if err := s.WriteRunRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	old := day0.Add(-5 * time.Hour)
	pub := old.Add(time.Minute)
	if err := s.WriteRunRecord(ctx, features.RunRecord{View: "user_clicks", WindowStart: old.Add(-time.Hour), WindowEnd: old, Created: old,
		Published: &pub, Shard: -1, Status: features.RunOK, RowsWritten: 50}); err != nil {
		t.Fatal(err)
	}
	return s
}

// newServer serves the test catalog at day0 + 10 h: user_spend fresh,
// user_clicks stale.
func newServer(t testing.TB) *httptest.Server {
	t.Helper()
	h, err := web.New(testRegistry(t), web.Options{Runs: testRuns(t), Now: func() time.Time { return day0.Add(10 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestPages(t *testing.T) {
	srv := newServer(t)
	for _, tc := range []struct {
		path    string
		status  int
		want    []string
		notWant []string
	}{
		{"/", 200, []string{"user_spend", "user_clicks", "checkout_fraud", `href="/feature/user_spend:paid_orders_30d"`,
			`class="badge stale"`, `class="badge fresh"`, `<script src="/static/catalog.js" defer></script>`}, nil},
		{"/?q=amount", 200, []string{"avg_paid_amount_30d", `value="amount"`}, []string{`href="/feature/user_clicks:orders_1h"`}},
		{"/?q=%3Cscript%3E", 200, []string{`value="&lt;script&gt;"`}, []string{`value="<script>"`}},
		{"/feature/user_spend:avg_paid_amount_30d", 200, []string{
			"mean of amount over orders with status = paid over the last 30 days, per user, daily at 00:00 UTC &#43; 2 h lateness", // html/template escapes "+"
			"risk@shop.example", "domain=orders", "3 days", "2 h", `href="/service/checkout_fraud"`,
			"fresh: window ending 2026-11-20 00:00 UTC, 10 h old", "<polyline", "25.0%", "FAILED max_null_rate on avg_paid_amount_30d",
			// Declared checks, the policy and each one's latest result.
			`<code>max_null_rate 0.05 on feature &#34;avg_paid_amount_30d&#34;</code>`, "<code>min_rows 1</code>", "not run yet",
			"skips the online push", "✓ passed max_null_rate on avg_paid_amount_30d"}, nil},
		{"/view/user_spend", 200, []string{`<code>max_null_rate 0.05 on feature &#34;avg_paid_amount_30d&#34;</code>`, "<code>min_rows 1</code>", `id="policy"`}, nil},
		{"/feature/user_spend:paid_orders_30d", 200, []string{"Paid orders &lt;script&gt;window.pwned = true&lt;/script&gt;&lt;b&gt;bold?&lt;/b&gt; &amp; &#34;quotes&#34;"},
			[]string{"<script>window.pwned", "<b>bold?</b>", "<code>max_null_rate"}},
		{"/feature/paid_orders_30d", 200, []string{"user_spend:"}, nil}, // a bare name redirects
		{"/view/user_clicks", 200, []string{"Stale.", "window ending 2026-11-19 19:00 UTC, 15 h old", "hourly at :00 UTC, no lateness"}, nil},
		{"/service/checkout_fraud", 200, []string{"Scores checkouts.", "user_spend:avg_paid_amount_30d"}, nil},
		{"/catalog.json", 200, []string{`"freshness"`, `"lineage"`, `"check": "max_null_rate 0.05 on feature \"avg_paid_amount_30d\""`, `"on_check_failure"`}, nil},
		{"/static/style.css", 200, []string{".badge.stale"}, nil},
		{"/feature/user_spend:avg_paid_amount_31d", 404, []string{"feature user_spend:avg_paid_amount_31d", `href="/feature/user_spend:avg_paid_amount_30d"`}, nil},
		{"/view/user_spnd", 404, []string{`href="/view/user_spend"`}, nil},
		{"/service/checkout", 404, []string{`href="/service/checkout_fraud"`}, nil},
		{"/no/such/paid_orders", 404, []string{`href="/feature/user_spend:paid_orders_30d"`}, nil},
	} {
		status, body := get(t, srv.URL+tc.path)
		if status != tc.status {
			t.Errorf("GET %s: %d, want %d", tc.path, status, tc.status)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %q", tc.path, w)
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(body, w) {
				t.Errorf("GET %s holds %q", tc.path, w)
			}
		}
	}
}

// TestChartPoints: the feature page's charts have one point per window, and
// the window whose check failed is marked.
func TestChartPoints(t *testing.T) {
	_, body := get(t, newServer(t).URL+"/feature/user_spend:avg_paid_amount_30d")
	charts := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(body, -1)
	if len(charts) != 3 {
		t.Fatalf("%d charts, want rows, null rate and mean", len(charts))
	}
	for _, c := range charts {
		if n := strings.Count(c, "<circle"); n != 14 {
			t.Errorf("%d points, want 14 windows", n)
		}
		if n := strings.Count(c, `class="pt bad"`); n != 1 {
			t.Errorf("%d points marked bad, want 1", n)
		}
	}
	if !regexp.MustCompile(`points="6,\d`).MatchString(charts[0]) {
		t.Errorf("rows chart has no line: %.400s", charts[0])
	}
}
