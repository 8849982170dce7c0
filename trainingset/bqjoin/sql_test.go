package bqjoin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/trainingset/bqjoin"
)

var (
	minT = time.Date(2026, 11, 10, 0, 0, 0, 1000, time.UTC) // 1µs past midnight
	maxT = time.Date(2026, 11, 20, 13, 5, 0, 0, time.UTC)
)

func TestBounds(t *testing.T) {
	for _, c := range []struct {
		name          string
		ttl, lateness time.Duration
		from          time.Time
	}{
		{"ttl and lateness", 72 * time.Hour, 2 * time.Hour, time.Date(2026, 11, 6, 22, 0, 0, 1000, time.UTC)},
		{"ttl only", 24 * time.Hour, 0, time.Date(2026, 11, 9, 0, 0, 0, 1000, time.UTC)},
		{"unlimited ttl reads from the first partition", 0, 2 * time.Hour, time.Time{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			from, to := bqjoin.Bounds(minT, maxT, c.ttl, c.lateness)
			if !from.Equal(c.from) || !to.Equal(maxT) {
				t.Errorf("Bounds = [%s, %s], want [%s, %s]", from, to, c.from, maxT)
			}
		})
	}
}

func spec() bqjoin.ViewSpec {
	from, to := bqjoin.Bounds(minT, maxT, 72*time.Hour, 2*time.Hour)
	return bqjoin.ViewSpec{
		View: "user_orders", History: "p.d.user_orders", JoinKey: "user_id", KeyType: features.Int64,
		Features: []features.Feature{{Name: "orders_7d", Type: features.Int64}, {Name: "spend_30d", Type: features.Float64}},
		TTL:      72 * time.Hour, Lateness: 2 * time.Hour, From: from, To: to, Published: "p.d._published",
	}
}

// TestViewSQL checks the rules as they appear in the statement; the
// answers themselves are checked on the emulator (TestEdgeCasesOnBigQuery).
func TestViewSQL(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*bqjoin.ViewSpec)
		want    []string
		notWant []string
	}{
		{name: "partition filter as literals, to the microsecond",
			want: []string{"WHERE event_timestamp >= TIMESTAMP '2026-11-06 22:00:00.000001+00' AND event_timestamp <= TIMESTAMP '2026-11-20 13:05:00.000000+00'"}},
		{name: "available at event_timestamp + lateness, in microseconds",
			want: []string{"h0.ts + 7200000000 AS av"}},
		{name: "feast visibility ignores lateness",
			edit: func(s *bqjoin.ViewSpec) { s.Visibility = features.VisibleAtEventTime },
			want: []string{"h0.ts + 0 AS av"}},
		{name: "inclusive TTL bound T - ttl <= event_timestamp, on the winner",
			want: []string{"AND h.ts >= UNIX_MICROS(b.t) - 259200000000"}},
		{name: "unlimited TTL: no bound, no lower partition filter",
			edit: func(s *bqjoin.ViewSpec) { s.TTL, s.From = 0, time.Time{} },
			want: []string{"WHERE event_timestamp <= TIMESTAMP '2026-11-20 13:05:00.000000+00'"}, notWant: []string{"h.ts >= ", "event_timestamp >="}},
		{name: "newest event_timestamp, then created_timestamp (null loses), exact ties by value; one row per (key, time)",
			want: []string{"ROW_NUMBER() OVER (PARTITION BY h0.k ORDER BY h0.ts, h0.cr NULLS FIRST, TO_JSON_STRING(STRUCT(h0.f0, h0.f1))) AS rk", "SELECT DISTINCT `user_id` AS k, event_timestamp AS t"}},
		{name: "sub-quadratic: a running best per key in availability order, history before a pair at the same time",
			want:    []string{"UNION ALL", "MAX(rk) OVER (PARTITION BY k ORDER BY av, side ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)", "JOIN h ON h.k = b.k AND h.rk = b.rk"},
			notWant: []string{"JOIN h ON h.k = e.k", "FROM e\n  JOIN h"}},
		{name: "only the history of requested keys is ranked",
			want: []string{"AND `user_id` IN (SELECT k FROM e)"}},
		{name: "null entity keys never match",
			want: []string{"WHERE `user_id` IS NOT NULL"}},
		{name: "as-known-at joins the publication of the version, first time wins",
			edit: func(s *bqjoin.ViewSpec) { s.AsKnownAt = true },
			want: []string{"MIN(UNIX_MICROS(published)) AS known", "FROM `p.d._published`", "WHERE view = 'user_orders' AND window_end >= TIMESTAMP", "JOIN p ON p.ts = h0.ts AND p.cr = h0.cr", "GREATEST(h0.ts + 7200000000, p.known) AS av"}},
		{name: "without as-known-at no publication table",
			notWant: []string{"_published", "known"}},
		{name: "a feature without a column yet reads as nulls",
			edit: func(s *bqjoin.ViewSpec) { s.Missing = map[string]bool{"spend_30d": true} },
			want: []string{"`orders_7d` AS f0, CAST(NULL AS FLOAT64) AS f1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := spec()
			if c.edit != nil {
				c.edit(&s)
			}
			sql, err := bqjoin.ViewSQL("p.d.ents", s)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(sql, w) {
					t.Errorf("missing %q in\n%s", w, sql)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(sql, w) {
					t.Errorf("unexpected %q in\n%s", w, sql)
				}
			}
		})
	}
}

func TestViewSQLRejectsBadNames(t *testing.T) {
	for _, edit := range []func(*bqjoin.ViewSpec){
		func(s *bqjoin.ViewSpec) { s.JoinKey = "user_id` OR TRUE --" },
		func(s *bqjoin.ViewSpec) { s.Features[0].Name = "a b" },
		func(s *bqjoin.ViewSpec) { s.JoinKey = "" },
	} {
		s := spec()
		edit(&s)
		if sql, err := bqjoin.ViewSQL("p.d.ents", s); err == nil {
			t.Errorf("accepted %+v:\n%s", s, sql)
		}
	}
	s := spec()
	s.AsKnownAt, s.Published = true, ""
	if _, err := bqjoin.ViewSQL("p.d.ents", s); err == nil {
		t.Error("as-known-at without a publication table accepted")
	}
}

func TestJoinSQL(t *testing.T) {
	parts := []bqjoin.Part{
		{Table: "p.d.t_v0", JoinKey: "user_id", Columns: []string{"user_orders__orders_7d", "user_orders__spend_30d"}},
		{Table: "p.d.t_v1", JoinKey: "product_id", Columns: []string{"product_sales__orders_1d"}},
	}
	sql, err := bqjoin.JoinSQL("p.d.ents", parts, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"SELECT e._row, v0.f0 AS `user_orders__orders_7d`, v0.f1 AS `user_orders__spend_30d`, v1.f0 AS `product_sales__orders_1d`",
		"FROM `p.d.ents` e",
		"LEFT JOIN `p.d.t_v0` v0 ON v0.k = e.`user_id` AND v0.t = e.event_timestamp",
		"LEFT JOIN `p.d.t_v1` v1 ON v1.k = e.`product_id` AND v1.t = e.event_timestamp",
	} {
		if !strings.Contains(sql, w) {
			t.Errorf("missing %q in\n%s", w, sql)
		}
	}
	// No global sort: a table has no order, and Build places Parquet rows
	// by _row; a global ORDER BY of a large result exceeds resources.
	for _, pass := range []bool{false, true} {
		if sql, _ := bqjoin.JoinSQL("p.d.ents", parts, pass); strings.Contains(sql, "ORDER BY") {
			t.Errorf("join (pass-through %v) sorts its result:\n%s", pass, sql)
		}
	}
	if sql, _ := bqjoin.JoinSQL("p.d.ents", parts, true); !strings.HasPrefix(sql, "SELECT e.*, v0.f0") {
		t.Errorf("pass-through join does not lead with the entity columns:\n%s", sql)
	}
	parts[0].Columns[0] = "x`y"
	if _, err := bqjoin.JoinSQL("p.d.ents", parts, false); err == nil {
		t.Error("bad output column name accepted")
	}
}

func TestParseDataset(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{{"proj.ds", true}, {"example.com:proj.ds", true}, {"proj", false}, {".ds", false}, {"proj.", false}} {
		d, err := bqjoin.ParseDataset(c.in)
		if (err == nil) != c.ok {
			t.Errorf("ParseDataset(%q) = %v, %v", c.in, d, err)
		}
		if c.ok && d.String() != c.in {
			t.Errorf("ParseDataset(%q).String() = %q", c.in, d)
		}
	}
}
