package grpcapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/grpcapi"
	servingpb "github.com/skewfree/skewfree/serving/grpcapi/proto/feast/serving"
	typespb "github.com/skewfree/skewfree/serving/grpcapi/proto/feast/types"
	"github.com/skewfree/skewfree/serving/httpapi"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// env is a real redis-server with demo values, one reader, and both the
// gRPC server (on a free loopback port) and the HTTP handler over it.
type env struct {
	redis  *testenv.Redis
	reg    *features.Registry
	event  time.Time // event time of the values written
	clock  *clock
	conn   *grpc.ClientConn
	client servingpb.ServingServiceClient
	http   http.Handler
	prom   *prometheus.Registry
}

// clock is the reader's: tests move it to make values outlive their TTL.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func newEnv(t *testing.T, opts grpcapi.Options) *env {
	t.Helper()
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	reg := demo.Registry()
	store, err := redisstore.New(c, reg, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	e := &env{redis: srv, reg: reg, event: now.Truncate(time.Hour), clock: &clock{t: now}, prom: prometheus.NewRegistry()}
	ctx := context.Background()
	for _, w := range []struct {
		view string
		keys []features.Value
		mark int64
	}{
		{"user_orders", serving.StringKeys("u1", "u2"), 1},
		{"user_activity", serving.StringKeys("u1"), 3},
		{"product_sales", serving.IntKeys(7, -3), 2},
	} {
		f := testenv.Frame(t, reg, w.view, w.keys, e.event, e.event, testenv.Sample(w.mark))
		if _, err := store.Write(ctx, w.view, f); err != nil {
			t.Fatal(err)
		}
	}
	reader, err := serving.New(reg, store, serving.Options{Now: e.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	if opts.MaxEntities == 0 {
		opts.MaxEntities = 3
	}
	opts.Registerer = e.prom
	gs, err := grpcapi.New(reader, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.http, err = httpapi.New(reg, reader, store, httpapi.Options{MaxEntities: opts.MaxEntities, Token: opts.Token})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gs.Serve(sctx, l, 5*time.Second) }()
	e.conn, err = grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.conn.Close()
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	e.client = servingpb.NewServingServiceClient(e.conn)
	return e
}

// table is a response of either API, in one comparable form: values as
// JSON text, statuses by name, timestamps as RFC 3339.
type table struct {
	Names    []string
	Values   [][]string
	Statuses [][]string
	Times    [][]string
}

func (e *env) grpc(t *testing.T, ctx context.Context, req *servingpb.GetOnlineFeaturesRequest) (table, error) {
	t.Helper()
	resp, err := e.client.GetOnlineFeatures(ctx, req)
	if err != nil {
		return table{}, err
	}
	tb := table{Names: resp.GetMetadata().GetFeatureNames().GetVal()}
	for _, r := range resp.GetResults() {
		var vals, stats, times []string
		for _, v := range r.GetValues() {
			vals = append(vals, protoJSON(t, v))
		}
		for _, s := range r.GetStatuses() {
			stats = append(stats, s.String())
		}
		for _, ts := range r.GetEventTimestamps() {
			times = append(times, ts.AsTime().UTC().Format(time.RFC3339Nano))
		}
		tb.Values, tb.Statuses, tb.Times = append(tb.Values, vals), append(tb.Statuses, stats), append(tb.Times, times)
	}
	return tb, nil
}

func protoJSON(t *testing.T, v *typespb.Value) string {
	switch x := v.GetVal().(type) {
	case nil:
		return "null"
	case *typespb.Value_Int64Val:
		return strconv.FormatInt(x.Int64Val, 10)
	case *typespb.Value_DoubleVal:
		return strconv.FormatFloat(x.DoubleVal, 'g', -1, 64)
	case *typespb.Value_BoolVal:
		return strconv.FormatBool(x.BoolVal)
	case *typespb.Value_StringVal:
		b, _ := json.Marshal(x.StringVal)
		return string(b)
	}
	t.Fatalf("unexpected value kind %T", v.GetVal())
	return ""
}

// httpDo posts body to the HTTP API: the table on 200, else the code and
// the error message.
func (e *env) httpDo(t *testing.T, body string) (table, int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	e.http.ServeHTTP(rec, httptest.NewRequest("POST", "/get-online-features", strings.NewReader(body)))
	if rec.Code != 200 {
		var msg struct{ Error string }
		_ = json.Unmarshal(rec.Body.Bytes(), &msg)
		return table{}, rec.Code, msg.Error
	}
	var r struct {
		Metadata struct {
			FeatureNames []string `json:"feature_names"`
		} `json:"metadata"`
		Results []struct {
			Values          []json.RawMessage `json:"values"`
			Statuses        []string          `json:"statuses"`
			EventTimestamps []string          `json:"event_timestamps"`
		} `json:"results"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	tb := table{Names: r.Metadata.FeatureNames}
	for _, res := range r.Results {
		var vals []string
		for _, v := range res.Values {
			vals = append(vals, string(v))
		}
		tb.Values, tb.Statuses, tb.Times = append(tb.Values, vals), append(tb.Statuses, res.Statuses), append(tb.Times, res.EventTimestamps)
	}
	return tb, 200, ""
}

func featuresReq(refs ...string) *servingpb.GetOnlineFeaturesRequest {
	return &servingpb.GetOnlineFeaturesRequest{Kind: &servingpb.GetOnlineFeaturesRequest_Features{Features: &servingpb.FeatureList{Val: refs}}}
}

func serviceReq(name string) *servingpb.GetOnlineFeaturesRequest {
	return &servingpb.GetOnlineFeaturesRequest{Kind: &servingpb.GetOnlineFeaturesRequest_FeatureService{FeatureService: name}}
}

func strs(keys ...string) *typespb.RepeatedValue {
	r := &typespb.RepeatedValue{}
	for _, k := range keys {
		r.Val = append(r.Val, &typespb.Value{Val: &typespb.Value_StringVal{StringVal: k}})
	}
	return r
}

func ints(keys ...int64) *typespb.RepeatedValue {
	r := &typespb.RepeatedValue{}
	for _, k := range keys {
		r.Val = append(r.Val, &typespb.Value{Val: &typespb.Value_Int64Val{Int64Val: k}})
	}
	return r
}

func with(r *servingpb.GetOnlineFeaturesRequest, full bool, entities map[string]*typespb.RepeatedValue) *servingpb.GetOnlineFeaturesRequest {
	r.FullFeatureNames, r.Entities = full, entities
	return r
}

// A Feast client's calls: a feature list and a feature service, bare and
// full names, string and int keys, values PRESENT, NOT_FOUND and
// OUTSIDE_MAX_AGE with their event timestamps; and the HTTP API answers
// the same request with the same values, statuses and timestamps.
func TestGetOnlineFeaturesLikeHTTP(t *testing.T) {
	e := newEnv(t, grpcapi.Options{})
	ev := e.event.Format(time.RFC3339)
	const epoch = "1970-01-01T00:00:00Z"
	cases := []struct {
		name    string
		later   time.Duration // reader clock ahead of now
		req     *servingpb.GetOnlineFeaturesRequest
		json    string
		names   string
		want    map[int]string // column → "values|statuses|times"
		columns int
	}{
		{
			name: "features, bare names, string and int keys",
			req: with(featuresReq("user_orders:order_count_7d", "user_orders:spend_30d", "product_sales:revenue_7d"), false,
				map[string]*typespb.RepeatedValue{"user_id": strs("u1", "nobody"), "product_id": ints(7, 8)}),
			json:  `{"features":["user_orders:order_count_7d","user_orders:spend_30d","product_sales:revenue_7d"],"entities":{"user_id":["u1","nobody"],"product_id":[7,8]}}`,
			names: "user_id,product_id,order_count_7d,spend_30d,revenue_7d",
			want: map[int]string{
				0: `"u1","nobody"|PRESENT,PRESENT|` + epoch + "," + epoch,
				1: `7,8|PRESENT,PRESENT|` + epoch + "," + epoch,
				2: `1000,null|PRESENT,NOT_FOUND|` + ev + "," + epoch,
				3: `1.375,null|PRESENT,NOT_FOUND|` + ev + "," + epoch,
				4: `2.125,null|PRESENT,NOT_FOUND|` + ev + "," + epoch,
			},
			columns: 5,
		},
		{
			name:  "feature service, full names",
			req:   with(serviceReq("fraud_model"), true, map[string]*typespb.RepeatedValue{"user_id": strs("u2", "u1")}),
			json:  `{"feature_service":"fraud_model","entities":{"user_id":["u2","u1"]},"full_feature_names":true}`,
			names: "user_id,user_orders__order_count_7d",
			want: map[int]string{
				0: `"u2","u1"|PRESENT,PRESENT|` + epoch + "," + epoch,
				1: `1000,1000|PRESENT,PRESENT|` + ev + "," + ev,
			},
			columns: 9,
		},
		{
			name:  "negative int key, full names",
			req:   with(featuresReq("product_sales:revenue_7d"), true, map[string]*typespb.RepeatedValue{"product_id": ints(-3)}),
			json:  `{"features":["product_sales:revenue_7d"],"entities":{"product_id":[-3]},"full_feature_names":true}`,
			names: "product_id,product_sales__revenue_7d",
			want: map[int]string{
				0: `-3|PRESENT|` + epoch,
				1: `2.125|PRESENT|` + ev,
			},
			columns: 2,
		},
		{
			name:  "outside max age",
			later: 7 * time.Hour, // user_activity's TTL is 6h, user_orders' 2 days
			req: with(featuresReq("user_activity:page_views_1h", "user_orders:order_count_7d"), false,
				map[string]*typespb.RepeatedValue{"user_id": strs("u1")}),
			json:  `{"features":["user_activity:page_views_1h","user_orders:order_count_7d"],"entities":{"user_id":["u1"]}}`,
			names: "user_id,page_views_1h,order_count_7d",
			want: map[int]string{
				1: `null|OUTSIDE_MAX_AGE|` + ev,
				2: `1000|PRESENT|` + ev,
			},
			columns: 3,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.clock.set(time.Now().UTC().Add(c.later))
			got, err := e.grpc(t, context.Background(), c.req)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Join(got.Names, ","); !strings.HasPrefix(n, c.names) || len(got.Names) != c.columns || len(got.Values) != c.columns {
				t.Fatalf("names %s (%d results), want %s... (%d)", n, len(got.Values), c.names, c.columns)
			}
			for col, w := range c.want {
				g := strings.Join(got.Values[col], ",") + "|" + strings.Join(got.Statuses[col], ",") + "|" + strings.Join(got.Times[col], ",")
				if g != w {
					t.Errorf("column %d (%s): %s, want %s", col, got.Names[col], g, w)
				}
			}
			viaHTTP, code, msg := e.httpDo(t, c.json)
			if code != 200 {
				t.Fatalf("HTTP %d: %s", code, msg)
			}
			if gj, hj := mustJSON(got), mustJSON(viaHTTP); gj != hj {
				t.Errorf("gRPC and HTTP differ:\ngRPC %s\nHTTP %s", gj, hj)
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Bad input is InvalidArgument with the HTTP API's message for the same
// request; nothing a client sends is Internal.
func TestBadInputLikeHTTP(t *testing.T) {
	e := newEnv(t, grpcapi.Options{})
	one := map[string]*typespb.RepeatedValue{"user_id": strs("a")}
	cases := []struct {
		name string
		req  *servingpb.GetOnlineFeaturesRequest
		json string // the same request to the HTTP API
		want string
	}{
		{"unknown feature", with(featuresReq("user_orders:nope"), false, one),
			`{"features":["user_orders:nope"],"entities":{"user_id":["a"]}}`, `unknown feature "nope"`},
		{"unknown view", with(featuresReq("nope:x"), false, one),
			`{"features":["nope:x"],"entities":{"user_id":["a"]}}`, `unknown view "nope"`},
		{"unknown service", with(serviceReq("nope"), false, one),
			`{"feature_service":"nope","entities":{"user_id":["a"]}}`, `unknown feature service "nope"`},
		{"no features", with(&servingpb.GetOnlineFeaturesRequest{}, false, one),
			`{"entities":{"user_id":["a"]}}`, "names no features"},
		{"empty feature list", with(featuresReq(), false, one),
			`{"features":[],"entities":{"user_id":["a"]}}`, `"features" is empty`},
		{"empty service", with(serviceReq(""), false, one),
			`{"feature_service":"","entities":{"user_id":["a"]}}`, `"feature_service" is empty`},
		{"no entities", featuresReq("user_orders:spend_30d"),
			`{"features":["user_orders:spend_30d"]}`, `"entities" is missing`},
		{"unknown join key", with(featuresReq("user_orders:spend_30d"), false, map[string]*typespb.RepeatedValue{"uid": strs("a")}),
			`{"features":["user_orders:spend_30d"],"entities":{"uid":["a"]}}`, `unknown join key "uid"`},
		{"missing join key", with(featuresReq("product_sales:orders_1d"), false, one),
			`{"features":["product_sales:orders_1d"],"entities":{"user_id":["a"]}}`, `missing join key "product_id"`},
		{"string for int key", with(featuresReq("product_sales:orders_1d"), false, map[string]*typespb.RepeatedValue{"product_id": strs("7")}),
			`{"features":["product_sales:orders_1d"],"entities":{"product_id":["7"]}}`, "want an integer key, got a string"},
		{"int for string key", with(featuresReq("user_orders:spend_30d"), false, map[string]*typespb.RepeatedValue{"user_id": ints(1)}),
			`{"features":["user_orders:spend_30d"],"entities":{"user_id":[1]}}`, "want a string key, got a number"},
		{"null key", with(featuresReq("user_orders:spend_30d"), false, map[string]*typespb.RepeatedValue{"user_id": {Val: []*typespb.Value{{}}}}),
			`{"features":["user_orders:spend_30d"],"entities":{"user_id":[null]}}`, "got null"},
		{"ragged columns", with(featuresReq("user_orders:spend_30d", "product_sales:orders_1d"), false, map[string]*typespb.RepeatedValue{"user_id": strs("a", "b"), "product_id": ints(1)}),
			`{"features":["user_orders:spend_30d","product_sales:orders_1d"],"entities":{"user_id":["a","b"],"product_id":[1]}}`, "one value per row"},
		{"too many entities", with(featuresReq("user_orders:spend_30d"), false, map[string]*typespb.RepeatedValue{"user_id": strs("a", "b", "c", "d")}),
			`{"features":["user_orders:spend_30d"],"entities":{"user_id":["a","b","c","d"]}}`, "limit is 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.grpc(t, context.Background(), c.req)
			st, _ := status.FromError(err)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), c.want) {
				t.Fatalf("got %v, want InvalidArgument containing %q", err, c.want)
			}
			_, code, msg := e.httpDo(t, c.json)
			if code/100 != 4 || msg != st.Message() {
				t.Errorf("HTTP %d %q, gRPC %q: want the same message", code, msg, st.Message())
			}
		})
	}
	// Float keys have no JSON twin: they are refused too.
	_, err := e.grpc(t, context.Background(), with(featuresReq("product_sales:orders_1d"), false,
		map[string]*typespb.RepeatedValue{"product_id": {Val: []*typespb.Value{{Val: &typespb.Value_DoubleVal{DoubleVal: 7.5}}}}}))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "want an integer key, got a floating-point number") {
		t.Fatalf("float key: %v", err)
	}
	// int32 keys (Feast's Int32 entities) are integers.
	got, err := e.grpc(t, context.Background(), with(featuresReq("product_sales:revenue_7d"), false,
		map[string]*typespb.RepeatedValue{"product_id": {Val: []*typespb.Value{{Val: &typespb.Value_Int32Val{Int32Val: 7}}}}}))
	if err != nil || got.Statuses[1][0] != "PRESENT" {
		t.Fatalf("int32 key: %v %v", err, got)
	}
	// A message over the size limit is refused by gRPC itself.
	big := with(featuresReq(strings.Repeat("x", 2<<20)), false, one)
	if _, err := e.client.GetOnlineFeatures(context.Background(), big); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized message: %v", err)
	}
	if n := testutil.ToFloat64(counter(t, e.prom, "/feast.serving.ServingService/GetOnlineFeatures", "InvalidArgument")); n != float64(len(cases)+1) {
		t.Errorf("InvalidArgument calls counted %v, want %d", n, len(cases)+1)
	}
}

// counter finds skewfree_serving_grpc_requests_total{method, code}.
func counter(t *testing.T, g prometheus.Gatherer, method, code string) prometheus.Collector {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "skewfree_serving_grpc_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["method"] == method && labels["code"] == code {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "copy"})
				c.Add(m.GetCounter().GetValue())
				return c
			}
		}
	}
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "none"})
}

func TestAuth(t *testing.T) {
	e := newEnv(t, grpcapi.Options{Token: "s3cret"})
	req := with(featuresReq("user_orders:spend_30d"), false, map[string]*typespb.RepeatedValue{"user_id": strs("u1")})
	cases := []struct {
		name string
		md   []string
		code codes.Code
	}{
		{"no token", nil, codes.Unauthenticated},
		{"wrong token", []string{"authorization", "Bearer nope"}, codes.Unauthenticated},
		{"prefix of token", []string{"authorization", "Bearer s3cre"}, codes.Unauthenticated},
		{"not bearer", []string{"authorization", "Basic s3cret"}, codes.Unauthenticated},
		{"right token", []string{"authorization", "Bearer s3cret"}, codes.OK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(context.Background(), c.md...)
			_, err := e.client.GetOnlineFeatures(ctx, req)
			if status.Code(err) != c.code {
				t.Fatalf("got %v, want %s", err, c.code)
			}
			_, err = e.client.GetFeastServingInfo(ctx, &servingpb.GetFeastServingInfoRequest{})
			if status.Code(err) != c.code {
				t.Fatalf("GetFeastServingInfo: got %v, want %s", err, c.code)
			}
		})
	}
	// Health checks stay open: probes carry no token.
	resp, err := healthpb.NewHealthClient(e.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health without a token: %v %v", resp, err)
	}
}

// Health follows Redis like /readyz; reflection lists the services and
// serves their descriptors; GetFeastServingInfo names the server.
func TestHealthReflectionInfo(t *testing.T) {
	e := newEnv(t, grpcapi.Options{})
	ctx := context.Background()
	info, err := e.client.GetFeastServingInfo(ctx, &servingpb.GetFeastServingInfoRequest{})
	if err != nil || !strings.HasPrefix(info.GetVersion(), "skewfree") {
		t.Fatalf("info %v %v", info, err)
	}

	h := healthpb.NewHealthClient(e.conn)
	check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("health %q: %v", service, err)
		}
		return resp.GetStatus()
	}
	for _, svc := range []string{"", "feast.serving.ServingService"} {
		if st := check(svc); st != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q: %s", svc, st)
		}
	}
	e.redis.Stop()
	if st := check(""); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health with Redis down: %s", st)
	}
	_, err = e.grpc(t, ctx, with(featuresReq("user_orders:spend_30d"), false, map[string]*typespb.RepeatedValue{"user_id": strs("u1")}))
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "online store unavailable") {
		t.Fatalf("read with Redis down: %v", err)
	}
	e.redis.Start()
	if st := check(""); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health with Redis back: %s", st)
	}

	stream, err := reflectionpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"feast.serving.ServingService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, not %s", names, want)
		}
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{
		FileContainingSymbol: "feast.serving.GetOnlineFeaturesRequest"}}); err != nil {
		t.Fatal(err)
	}
	if resp, err = stream.Recv(); err != nil || len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("descriptor of feast.serving.GetOnlineFeaturesRequest: %v %v", resp, err)
	}
	_ = stream.CloseSend()
	if n := testutil.ToFloat64(counter(t, e.prom, "/grpc.health.v1.Health/Check", "OK")); n < 4 {
		t.Errorf("health checks counted %v, want ≥ 4", n)
	}
}

// Serve stops gracefully: a call in flight finishes, Serve returns nil.
func TestServeStopsGracefully(t *testing.T) {
	reg := demo.Registry()
	slow := &slowReader{reg: reg, started: make(chan struct{})}
	gs, err := grpcapi.New(slow, okPinger{}, grpcapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gs.Serve(ctx, l, 5*time.Second) }()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	called := make(chan error, 1)
	go func() {
		_, err := servingpb.NewServingServiceClient(conn).GetOnlineFeatures(context.Background(),
			with(featuresReq("user_orders:spend_30d"), true, map[string]*typespb.RepeatedValue{"user_id": strs("u1")}))
		called <- err
	}()
	<-slow.started
	cancel() // as SIGTERM does in the main
	if err := <-called; err != nil {
		t.Fatalf("call in flight: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// slowReader answers after 300ms, and panics for the feature "boom".
type slowReader struct {
	reg     *features.Registry
	started chan struct{}
	once    sync.Once
}

func (s *slowReader) Get(ctx context.Context, refs []string, e serving.Entities) (*serving.Result, error) {
	if slices.Contains(refs, "user_orders:boom") {
		panic("boom")
	}
	s.once.Do(func() { close(s.started) })
	time.Sleep(300 * time.Millisecond)
	parsed, err := s.reg.ResolveRefs(refs)
	if err != nil {
		return nil, err
	}
	return &serving.Result{Features: parsed, JoinKeys: []string{"user_id"}, Rows: [][]serving.FeatureValue{make([]serving.FeatureValue, len(refs))}}, nil
}
func (s *slowReader) GetService(ctx context.Context, svc string, e serving.Entities) (*serving.Result, error) {
	return nil, errors.New("not used")
}
func (s *slowReader) Registry() *features.Registry { return s.reg }

type okPinger struct{}

func (okPinger) Ping(context.Context) error { return nil }

// A panic in the reader is a logged Internal error, and the server lives on.
func TestPanicIsInternal(t *testing.T) {
	reg := demo.Registry()
	gs, err := grpcapi.New(&slowReader{reg: reg, started: make(chan struct{})}, okPinger{}, grpcapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gs.Serve(ctx, l, time.Second) }()
	defer func() { cancel(); <-served }()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := servingpb.NewServingServiceClient(conn)
	_, err = c.GetOnlineFeatures(context.Background(), with(featuresReq("user_orders:boom"), true, map[string]*typespb.RepeatedValue{"user_id": strs("u1")}))
	if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "boom") {
		t.Fatalf("panic: %v", err)
	}
	if _, err := c.GetFeastServingInfo(context.Background(), &servingpb.GetFeastServingInfoRequest{}); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
}
