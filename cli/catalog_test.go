package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skewfree/skewfree/cli"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/store/parquet"
)

var catDay = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// runsStore writes run records into a fresh offline store: user_orders
// published for the last two days (fresh at catDay+10h), product_sales
// published three days ago (stale), user_activity nothing.
func runsStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s, err := parquet.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	mean := 42.5
	write := func(view string, end time.Time, status features.RunStatus, checks ...features.CheckResult) {
		pub := end.Add(3 * time.Hour)
		r := features.RunRecord{View: view, WindowStart: end.Add(-24 * time.Hour), WindowEnd: end, Created: end.Add(2 * time.Hour),
			Published: &pub, Shard: -1, Status: status, RowsWritten: 300, EventsRead: 900, Checks: checks,
			Features: []features.FeatureStats{{Name: "spend_30d", Type: features.Float64, Rows: 300, Nulls: 30, Mean: &mean}}}
		if err := s.WriteRunRecord(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	write("user_orders", catDay.Add(-24*time.Hour), features.RunOK,
		features.CheckResult{Feature: "spend_30d", Check: "max_null_rate", Value: 0.1, Bound: 0.2, Passed: true})
	write("user_orders", catDay, features.RunFlagged,
		features.CheckResult{Feature: "spend_30d", Check: "max_null_rate", Value: 0.35, Bound: 0.2, Passed: false, Message: "null rate 0.35 above 0.2"})
	write("product_sales", catDay.Add(-72*time.Hour), features.RunOK)
	return "file://" + dir
}

func TestCatalogTable(t *testing.T) {
	off := runsStore(t)
	code, out, errs := run(t, "catalog", "--offline", off, "--at", "2026-11-20T10:00:00Z")
	if code != 0 {
		t.Fatal(errs)
	}
	for _, re := range []string{
		`(?m)^VIEW\s+ENTITY\s+SCHEDULE\s+TTL\s+OWNER\s+FRESHNESS$`,
		`(?m)^user_orders\s+user\s+daily at 00:00 UTC \+ 2 h lateness\s+2 days\s+risk-team@shop.example\s+fresh: window ending 2026-11-20 00:00 UTC, 10 h old$`,
		`(?m)^user_activity\s+user\s+hourly at :00 UTC, no lateness\s+6 h\s+recsys-team@shop.example\s+never published$`,
		`(?m)^product_sales\s+product\s+daily at 00:00 UTC, no lateness\s+3 days\s+merchandising@shop.example\s+stale: window ending 2026-11-17 00:00 UTC, 3 days 10 h old$`,
		`(?m)^user_orders:spend_30d\s+float64\s+fraud_model\s+EUR spent in the last 30 days`,
		`(?m)^fraud_model\s+8\s+risk-team@shop.example`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", re, out)
		}
	}
	// Without any store: nothing published, and reading does not create one.
	missing := filepath.Join(t.TempDir(), "nothing-here")
	code, out, errs = run(t, "catalog", "--offline", "file://"+missing)
	if code != 0 || strings.Count(out, "never published") != 4 {
		t.Fatalf("code %d, %s\n%s", code, errs, out)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("catalog created the offline store %s", missing)
	}
}

func TestCatalogJSONFreshnessAndLineage(t *testing.T) {
	code, out, errs := run(t, "catalog", "--json", "--offline", runsStore(t), "--at", "2026-11-20T10:00:00Z")
	if code != 0 {
		t.Fatal(errs)
	}
	var cat struct {
		Views []struct {
			Name      string         `json:"name"`
			Owner     string         `json:"owner"`
			Freshness map[string]any `json:"freshness"`
			Lineage   struct {
				Source   string   `json:"source"`
				Services []string `json:"services"`
			} `json:"lineage"`
		} `json:"views"`
		Lineage []struct{ From, To string } `json:"lineage"`
	}
	if err := json.Unmarshal([]byte(out), &cat); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"user_orders": "fresh", "user_activity": "never published", "product_sales": "stale", "user_live": "never published"}
	for _, v := range cat.Views {
		if v.Freshness["status"] != want[v.Name] || v.Lineage.Source == "" || v.Owner == "" {
			t.Errorf("%s: freshness %v, lineage %+v", v.Name, v.Freshness, v.Lineage)
		}
	}
	if cat.Views[0].Freshness["age_seconds"] != float64(36000) || cat.Views[0].Freshness["stale"] != false {
		t.Errorf("user_orders freshness %v", cat.Views[0].Freshness)
	}
	found := false
	for _, e := range cat.Lineage {
		found = found || (e.From == "feature:user_orders:spend_30d" && e.To == "service:fraud_model")
	}
	if !found {
		t.Errorf("lineage lacks spend_30d -> fraud_model: %v", cat.Lineage)
	}
}

func TestDescribe(t *testing.T) {
	off := runsStore(t)
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"view", "user_orders"}, 0, []string{
			"view user_orders", "schedule     daily at 00:00 UTC + 2 h lateness", "TTL          2 days", "owner        risk-team@shop.example",
			"tags         domain=orders, tier=gold", "used by      fraud_model, recommender", "freshness    fresh: window ending 2026-11-20 00:00 UTC, 10 h old",
			"features (per user, daily at 00:00 UTC + 2 h lateness)", "spend_30d              float64  fraud_model  sum of amount over orders over the last 30 days",
			"2026-11-20 00:00 UTC  flagged", "0/1 passed", "FAILED max_null_rate on spend_30d: value 0.35, bound 0.2 (null rate 0.35 above 0.2)"}},
		{[]string{"feature", "user_orders:spend_30d"}, 0, []string{
			"feature user_orders:spend_30d", "EUR spent in the last 30 days, all statuses",
			"definition  sum of amount over orders over the last 30 days, per user, daily at 00:00 UTC + 2 h lateness",
			"used by     fraud_model", "10.0%", "42.5", "FAILED max_null_rate"}},
		{[]string{"feature", "is_bestseller"}, 0, []string{"feature product_sales:is_bestseller", "Go function (version v1)", "used by     recommender",
			"freshness   stale: window ending 2026-11-17 00:00 UTC"}},
		{[]string{"feature", "page_views_1h"}, 0, []string{"never published", "last runs: none recorded"}},
		{[]string{"service", "fraud_model"}, 0, []string{"service fraud_model", "Scores each checkout for fraud risk.", "owner  risk-team@shop.example",
			"user_orders:spend_30d", "user_activity  hourly at :00 UTC, no lateness", "never published", "stale  user_activity"}},
		{[]string{"view", "user_order"}, 1, []string{`unknown view "user_order"; closest: user_orders`}},
		{[]string{"feature", "spend_3d"}, 1, []string{`unknown feature "spend_3d"; closest: user_orders:spend_30d`}},
		{[]string{"service", "frod_model"}, 1, []string{`unknown service "frod_model"; closest: fraud_model`}},
		{[]string{"model", "x"}, 1, []string{`unknown kind "model": want view, feature or service`}},
		{[]string{"view"}, 1, []string{"describe takes a kind"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := run(t, append(append([]string{"describe"}, tc.args...), "--offline", off, "--at", "2026-11-20T10:00:00Z")...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s%s", code, tc.code, out, errs)
			}
			text := out
			if code != 0 {
				text = errs
				if strings.Count(strings.TrimSpace(errs), "\n") != 0 {
					t.Errorf("error is not one line: %q", errs)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("lacks %q:\n%s", w, text)
				}
			}
		})
	}
}

// syncBuffer is written by the command while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCatalogServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, demo.Registry(), []string{"catalog", "serve", "--addr", "127.0.0.1:0", "--offline", runsStore(t)}, &out, &errs)
	}()
	re := regexp.MustCompile(`catalog: (http://\S+)`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no address printed: %s %s", out.String(), errs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for path, want := range map[string]int{"": 200, "feature/user_orders:spend_30d": 200, "view/user_ordrs": 404} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || !strings.Contains(string(body), "user_orders") {
			t.Errorf("GET /%s: %d, want %d:\n%.300s", path, resp.StatusCode, want, body)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after interrupt: %s", code, errs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}
