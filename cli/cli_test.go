package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goparquet "github.com/parquet-go/parquet-go"

	"github.com/skewfree/skewfree/cli"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/store/parquet"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = cli.Run(context.Background(), demo.Registry(), args, &o, &e)
	return code, o.String(), e.String()
}

// TestGenerateMaterializeTrainingSet walks the path a user takes: sample data,
// offline history, a training set for a feature service.
func TestGenerateMaterializeTrainingSet(t *testing.T) {
	dir := t.TempDir()
	raw, off := "file://"+filepath.Join(dir, "raw"), "file://"+filepath.Join(dir, "offline")
	if code, _, errs := run(t, "generate", "--out", raw, "--users", "300", "--products", "50", "--days", "10", "--start", "2026-11-01"); code != 0 {
		t.Fatalf("generate: %s", errs)
	}
	for _, v := range []string{"user_orders", "product_sales"} {
		code, out, errs := run(t, "materialize", "--local", "--view", v, "--source", raw, "--offline", off,
			"--from", "2026-11-01T00:00:00Z", "--to", "2026-11-11T00:00:00Z")
		if code != 0 {
			t.Fatalf("materialize %s: %s", v, errs)
		}
		if n := strings.Count(out, "\n"); n != 10 {
			t.Fatalf("materialize %s wrote %d windows, want 10:\n%s", v, n, out)
		}
	}
	code, out, errs := run(t, "materialize", "--local", "--view", "user_activity", "--source", raw, "--offline", off,
		"--from", "2026-11-10T00:00:00Z", "--to", "2026-11-11T00:00:00Z")
	if code != 0 || strings.Count(out, "\n") != 24 {
		t.Fatalf("hourly materialize: code %d, %d windows: %s", code, strings.Count(out, "\n"), errs)
	}

	// Entity table: users and products at times across the range.
	ents := filepath.Join(dir, "entities.parquet")
	fh, err := os.Create(ents)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		UserID    string    `parquet:"user_id"`
		ProductID int64     `parquet:"product_id"`
		TS        time.Time `parquet:"event_timestamp,timestamp(microsecond)"`
		Label     bool      `parquet:"label"`
	}
	var rows []row
	for i := range 500 {
		rows = append(rows, row{UserID: demo.UserID(i % 350), ProductID: int64(i % 60),
			TS: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 23 * time.Minute), Label: i%7 == 0})
	}
	if err := goparquet.Write(fh, rows); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	outFile := filepath.Join(dir, "train.parquet")
	code, _, errs = run(t, "training-set", "--entities", ents, "--service", "recommender", "--out", outFile, "--offline", off)
	if code != 0 {
		t.Fatalf("training-set: %s", errs)
	}
	if !strings.Contains(errs, "peak RSS") {
		t.Errorf("no summary with peak memory: %q", errs)
	}
	f, err := parquet.OpenFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.NumRows() != 500 {
		t.Fatalf("rows %d", f.NumRows())
	}
	wantCols := "user_id,product_id,event_timestamp,label,user_activity__page_views_24h,user_activity__distinct_products_24h,user_activity__avg_dwell_seconds_1h,user_orders__distinct_products_30d,user_orders__last_order_status,product_sales__units_sold_7d,product_sales__unique_buyers_7d,product_sales__is_bestseller"
	if got := strings.Join(f.Columns(), ","); got != wantCols {
		t.Fatalf("columns\n got %s\nwant %s", got, wantCols)
	}
	// Real history reached the rows: most users and products have values.
	var nonNull int
	for _, rg := range f.RowGroups() {
		c, err := f.ReadColumn(rg, "product_sales__units_sold_7d", 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, ok := range c.Valid {
			if ok {
				nonNull++
			}
		}
	}
	if nonNull < 250 {
		t.Fatalf("only %d of 500 rows have product_sales values", nonNull)
	}
}

func TestErrorsAreOneLineAndNonZero(t *testing.T) {
	dir := t.TempDir()
	ents := filepath.Join(dir, "e.parquet")
	fh, _ := os.Create(ents)
	type row struct {
		UserID string `parquet:"user_id"`
		TS     string `parquet:"event_timestamp"`
	}
	goparquet.Write(fh, []row{{"u1", "2026-11-01"}})
	fh.Close()
	users := filepath.Join(dir, "users.parquet")
	fh, _ = os.Create(users)
	type urow struct {
		UserID string    `parquet:"user_id"`
		TS     time.Time `parquet:"event_timestamp,timestamp(millisecond)"`
	}
	goparquet.Write(fh, []urow{{"u1", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}})
	fh.Close()
	out := filepath.Join(dir, "out.parquet")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"training-set", "--entities", ents, "--features", "user_orders:nope", "--out", out}, `unknown feature "nope" in view user_orders`},
		{[]string{"training-set", "--entities", ents, "--features", "ghost:x", "--out", out}, `unknown view "ghost"`},
		{[]string{"training-set", "--entities", ents, "--service", "ghost", "--out", out}, `unknown feature service "ghost"`},
		{[]string{"training-set", "--entities", ents, "--features", "user_orders:spend_30d", "--out", out, "--offline", dir}, "column event_timestamp has type STRING, want a TIMESTAMP"},
		{[]string{"training-set", "--entities", users, "--features", "product_sales:orders_1d", "--out", out, "--offline", dir}, "missing join key column product_id"},
		{[]string{"training-set", "--entities", ents, "--out", out}, "give exactly one of --features and --service"},
		{[]string{"materialize", "--local", "--view", "user_orders", "--window-end", "2026-11-01T05:00:00Z", "--source", dir, "--offline", dir}, "not aligned to the daily cadence"},
		{[]string{"materialize", "--local", "--view", "user_orders", "--window-end", "yesterday"}, "want an RFC 3339 time"},
		{[]string{"generate", "--start", "2026-13-01", "--out", dir}, "want YYYY-MM-DD"},
		{[]string{"training-set", "--entities", ents, "--features", "user_orders:spend_30d", "--out", out, "--visibility", "asap"}, `visibility "asap": want available`},
		{[]string{"history", "--view", "user_orders", "--window-end", "2026-11-01T05:00:00Z", "--offline", dir}, "not aligned to the daily cadence"},
		{[]string{"history", "--view", "ghost", "--window-end", "2026-11-01T00:00:00Z", "--offline", dir}, `unknown view "ghost"`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args[:2], " ")+" "+c.want, func(t *testing.T) {
			code, _, errs := run(t, c.args...)
			if code == 0 {
				t.Fatal("exit code 0")
			}
			if !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.HasPrefix(errs, "starter: ") {
				t.Fatalf("stderr %q, want one line containing %q", errs, c.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("a failed command wrote --out")
			}
		})
	}
}

func TestCatalogJSON(t *testing.T) {
	code, out, errs := run(t, "catalog", "--json")
	if code != 0 {
		t.Fatal(errs)
	}
	var cat struct {
		Entities []map[string]any `json:"entities"`
		Views    []struct {
			Name       string           `json:"name"`
			Entity     string           `json:"entity"`
			Cadence    string           `json:"cadence"`
			TTLSeconds *int64           `json:"ttl_seconds"`
			Owner      string           `json:"owner"`
			Tags       map[string]any   `json:"tags"`
			Source     string           `json:"source"`
			Features   []map[string]any `json:"features"`
		} `json:"views"`
		Services []struct {
			Name     string   `json:"name"`
			Features []string `json:"features"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(out), &cat); err != nil {
		t.Fatal(err)
	}
	for _, e := range cat.Entities {
		for _, k := range []string{"name", "join_key", "type", "description"} {
			if _, ok := e[k]; !ok {
				t.Errorf("entity lacks %q: %v", k, e)
			}
		}
	}
	for _, v := range cat.Views {
		if v.TTLSeconds == nil || v.Owner == "" || v.Source == "" || v.Tags == nil || len(v.Features) == 0 {
			t.Errorf("view %s incomplete", v.Name)
		}
		for _, f := range v.Features {
			for _, k := range []string{"name", "type", "description"} {
				if _, ok := f[k]; !ok {
					t.Errorf("feature lacks %q: %v", k, f)
				}
			}
		}
	}
	if len(cat.Services) < 2 || !strings.Contains(cat.Services[0].Features[0], ":") {
		t.Errorf("services %+v", cat.Services)
	}
}
