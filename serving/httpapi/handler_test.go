package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/httpapi"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

type env struct {
	srv     *testenv.Redis
	reg     *features.Registry
	store   *redisstore.Store
	handler http.Handler
	event   time.Time
}

func newEnv(t *testing.T, opts httpapi.Options) *env {
	t.Helper()
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	reg := demo.Registry()
	store, err := redisstore.New(c, reg, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, reg: reg, store: store, event: time.Now().UTC().Truncate(time.Hour)}
	ctx := context.Background()
	f := testenv.Frame(t, reg, "user_orders", serving.StringKeys("u1", "u2"), e.event, e.event, testenv.Sample(1))
	if _, err := store.Write(ctx, "user_orders", f); err != nil {
		t.Fatal(err)
	}
	f = testenv.Frame(t, reg, "product_sales", serving.IntKeys(7), e.event, e.event, testenv.Sample(2))
	if _, err := store.Write(ctx, "product_sales", f); err != nil {
		t.Fatal(err)
	}
	reader, err := serving.New(reg, store, serving.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if opts.MaxEntities == 0 {
		opts.MaxEntities = 3
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 4096
	}
	e.handler, err = httpapi.New(reg, reader, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) do(method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

type feastResponse struct {
	Metadata struct {
		FeatureNames []string `json:"feature_names"`
	} `json:"metadata"`
	Results []struct {
		Values          []any    `json:"values"`
		Statuses        []string `json:"statuses"`
		EventTimestamps []string `json:"event_timestamps"`
	} `json:"results"`
}

func TestGetOnlineFeatures(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	rec := e.do("POST", "/get-online-features", `{"features":["user_orders:order_count_7d","user_orders:spend_30d","product_sales:revenue_7d"],
		"entities":{"user_id":["u1","nobody"],"product_id":[7,8]},"full_feature_names":false}`)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var r feastResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	if got := strings.Join(r.Metadata.FeatureNames, ","); got != "user_id,product_id,order_count_7d,spend_30d,revenue_7d" {
		t.Fatalf("feature names %s", got)
	}
	ts := e.event.Format(time.RFC3339)
	checks := []struct {
		col      int
		values   string
		statuses string
		times    string
	}{
		{0, "[u1 nobody]", "PRESENT,PRESENT", "1970-01-01T00:00:00Z,1970-01-01T00:00:00Z"},
		{1, "[7 8]", "PRESENT,PRESENT", "1970-01-01T00:00:00Z,1970-01-01T00:00:00Z"},
		{2, "[1000 <nil>]", "PRESENT,NOT_FOUND", ts + ",1970-01-01T00:00:00Z"},
		{3, "[1.375 <nil>]", "PRESENT,NOT_FOUND", ts + ",1970-01-01T00:00:00Z"},
		{4, "[2.125 <nil>]", "PRESENT,NOT_FOUND", ts + ",1970-01-01T00:00:00Z"},
	}
	for _, c := range checks {
		res := r.Results[c.col]
		if jsonString(res.Values) != c.values {
			t.Errorf("column %d values %v, want %s", c.col, res.Values, c.values)
		}
		if got := strings.Join(res.Statuses, ","); got != c.statuses {
			t.Errorf("column %d statuses %s, want %s", c.col, got, c.statuses)
		}
		if got := strings.Join(res.EventTimestamps, ","); got != c.times {
			t.Errorf("column %d times %s, want %s", c.col, got, c.times)
		}
	}

	// A feature service, with full feature names.
	rec = e.do("POST", "/get-online-features", `{"feature_service":"fraud_model","entities":{"user_id":["u2"]},"full_feature_names":true}`)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	r = feastResponse{}
	_ = json.Unmarshal(rec.Body.Bytes(), &r)
	if r.Metadata.FeatureNames[1] != "user_orders__order_count_7d" || len(r.Results) != 9 {
		t.Fatalf("service response: %s", rec.Body)
	}
}

func jsonString(v []any) string {
	var parts []string
	for _, x := range v {
		switch x := x.(type) {
		case nil:
			parts = append(parts, "<nil>")
		default:
			b, _ := json.Marshal(x)
			parts = append(parts, strings.Trim(string(b), `"`))
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestClientErrors(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	tests := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"malformed JSON", "POST", "/get-online-features", `{"features":`, 400, "malformed JSON"},
		{"not an object", "POST", "/get-online-features", `[1]`, 400, "malformed JSON"},
		{"trailing data", "POST", "/get-online-features", `{"features":["user_orders:spend_30d"],"entities":{"user_id":["a"]}} {}`, 400, "trailing data"},
		{"empty request", "POST", "/get-online-features", `{}`, 400, "names no features"},
		{"empty body", "POST", "/get-online-features", ``, 400, "malformed JSON"},
		{"both features and service", "POST", "/get-online-features", `{"features":["a:b"],"feature_service":"x","entities":{"user_id":["a"]}}`, 400, "not both"},
		{"no entities", "POST", "/get-online-features", `{"features":["user_orders:spend_30d"]}`, 400, `"entities" is missing`},
		{"unknown feature", "POST", "/get-online-features", `{"features":["user_orders:nope"],"entities":{"user_id":["a"]}}`, 400, `unknown feature "nope"`},
		{"unknown view", "POST", "/get-online-features", `{"features":["nope:x"],"entities":{"user_id":["a"]}}`, 400, `unknown view "nope"`},
		{"unknown service", "POST", "/get-online-features", `{"feature_service":"nope","entities":{"user_id":["a"]}}`, 400, `unknown feature service "nope"`},
		{"unknown join key", "POST", "/get-online-features", `{"features":["user_orders:spend_30d"],"entities":{"uid":["a"]}}`, 400, `unknown join key "uid"`},
		{"missing join key", "POST", "/get-online-features", `{"features":["product_sales:orders_1d"],"entities":{"user_id":["a"]}}`, 400, `missing join key "product_id"`},
		{"string for int key", "POST", "/get-online-features", `{"features":["product_sales:orders_1d"],"entities":{"product_id":["7"]}}`, 400, "want an integer key, got a string"},
		{"float for int key", "POST", "/get-online-features", `{"features":["product_sales:orders_1d"],"entities":{"product_id":[7.5]}}`, 400, "want an int64 key, got 7.5"},
		{"number for string key", "POST", "/get-online-features", `{"features":["user_orders:spend_30d"],"entities":{"user_id":[1]}}`, 400, "want a string key, got a number"},
		{"null key", "POST", "/get-online-features", `{"features":["user_orders:spend_30d"],"entities":{"user_id":[null]}}`, 400, "got null"},
		{"ragged columns", "POST", "/get-online-features", `{"features":["user_orders:spend_30d","product_sales:orders_1d"],"entities":{"user_id":["a","b"],"product_id":[1]}}`, 400, "one value per row"},
		{"ambiguous bare names", "POST", "/get-online-features", `{"features":["user_orders:distinct_products_30d","user_activity:distinct_products_24h","user_orders:order_count_7d","product_sales:orders_1d","user_activity:page_views_1h"],"entities":{"user_id":["a"],"product_id":[1]}}`, 200, ""},
		{"too many entities", "POST", "/get-online-features", `{"features":["user_orders:spend_30d"],"entities":{"user_id":["a","b","c","d"]}}`, 413, "limit is 3"},
		{"body too large", "POST", "/get-online-features", `{"features":["` + strings.Repeat("x", 5000) + `"]}`, 413, "exceeds 4096 bytes"},
		{"wrong method", "GET", "/get-online-features", ``, 405, "needs POST"},
		{"unknown path", "GET", "/nope", ``, 404, "no such endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(tc.method, tc.path, tc.body)
			if rec.Code != tc.code {
				t.Fatalf("code %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if tc.code == 200 {
				return
			}
			var msg struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &msg); err != nil || !strings.Contains(msg.Error, tc.want) {
				t.Fatalf("body %s, want error containing %q", rec.Body, tc.want)
			}
		})
	}
	rec := e.do("POST", "/get-online-features", `{"features":["user_orders:distinct_products_30d","product_sales:unique_buyers_7d","user_orders:order_count_7d"],"entities":{"user_id":["a"],"product_id":[1]}}`)
	if rec.Code != 200 {
		t.Fatalf("distinct bare names: %d %s", rec.Code, rec.Body)
	}
}

func TestDuplicateBareNames(t *testing.T) {
	// Two views with a feature of the same name cannot answer with bare names.
	reg := testenv.WideRegistry(2, 3, 0)
	s, _ := redisstore.New(goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}), reg, redisstore.Options{})
	h, err := httpapi.New(reg, fakeReader{reg}, s, httpapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/get-online-features", strings.NewReader(`{"features":["wide_0:f01","wide_1:f01"],"entities":{"user_id":["a"]}}`)))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "full_feature_names") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

type fakeReader struct{ reg *features.Registry }

func (f fakeReader) Get(ctx context.Context, refs []string, e serving.Entities) (*serving.Result, error) {
	parsed, err := f.reg.ResolveRefs(refs)
	if err != nil {
		return nil, err
	}
	return &serving.Result{Features: parsed, JoinKeys: []string{"user_id"}, Rows: [][]serving.FeatureValue{make([]serving.FeatureValue, len(refs))}}, nil
}
func (f fakeReader) GetService(ctx context.Context, s string, e serving.Entities) (*serving.Result, error) {
	return nil, nil
}
func (fakeReader) Stats() serving.Stats { return serving.Stats{} }

func TestAuth(t *testing.T) {
	e := newEnv(t, httpapi.Options{Token: "s3cret"})
	body := `{"features":["user_orders:spend_30d"],"entities":{"user_id":["u1"]}}`
	tests := []struct {
		name string
		hdr  []string
		path string
		code int
	}{
		{"no token", nil, "/get-online-features", 401},
		{"wrong token", []string{"Authorization", "Bearer nope"}, "/get-online-features", 401},
		{"prefix of token", []string{"Authorization", "Bearer s3cre"}, "/get-online-features", 401},
		{"not bearer", []string{"Authorization", "Basic s3cret"}, "/get-online-features", 401},
		{"right token", []string{"Authorization", "Bearer s3cret"}, "/get-online-features", 200},
		{"catalog needs it too", nil, "/catalog", 401},
		{"health does not", nil, "/healthz", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := "POST"
			if tc.path != "/get-online-features" {
				method = "GET"
			}
			rec := e.do(method, tc.path, body, tc.hdr...)
			if rec.Code != tc.code {
				t.Fatalf("code %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if tc.code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate header")
			}
		})
	}
}

func TestRedisDownThenBack(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	body := `{"features":["user_orders:spend_30d"],"entities":{"user_id":["u1"]}}`
	if rec := e.do("GET", "/readyz", ""); rec.Code != 200 {
		t.Fatalf("readyz %d", rec.Code)
	}
	e.srv.Stop()
	if rec := e.do("POST", "/get-online-features", body); rec.Code != 503 || !strings.Contains(rec.Body.String(), "unavailable") {
		t.Fatalf("with Redis down: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do("GET", "/readyz", ""); rec.Code != 503 {
		t.Fatalf("readyz with Redis down: %d", rec.Code)
	}
	if rec := e.do("GET", "/healthz", ""); rec.Code != 200 {
		t.Fatalf("healthz with Redis down: %d", rec.Code)
	}
	e.srv.Start() // empty again: no persistence
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec := e.do("POST", "/get-online-features", body)
		if rec.Code == 200 && strings.Contains(rec.Body.String(), "NOT_FOUND") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery: %d %s", rec.Code, rec.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rec := e.do("GET", "/metrics", "")
	for _, m := range []string{"skewfree_serving_request_duration_seconds_bucket", "skewfree_serving_redis_errors_total 1", "skewfree_serving_cache_hits_total"} {
		if !strings.Contains(rec.Body.String(), m) {
			t.Errorf("metrics lack %q", m)
		}
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- httpapi.Serve(ctx, l, slow, 5*time.Second) }()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + l.Addr().String())
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	time.Sleep(100 * time.Millisecond)
	cancel() // as SIGTERM does in the main
	if g := <-got; g != "done" {
		t.Fatalf("request in flight got %q", g)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
