package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// demoRegistry is the demo repository plus extra views, minus the views
// named in drop (and the services that use them): the registry a team
// applies after adding or removing a view.
func demoRegistry(t *testing.T, drop []string, extra ...*features.View) *features.Registry {
	t.Helper()
	d := demo.Registry()
	var defs []any
	for _, n := range []string{"user", "product"} {
		e, _ := d.Entity(n)
		defs = append(defs, e)
	}
	for _, n := range []string{"orders", "page_views"} {
		s, _ := d.Source(n)
		defs = append(defs, s)
	}
	for _, v := range d.Views() {
		if !slices.Contains(drop, v.Name) {
			defs = append(defs, v)
		}
	}
	for _, v := range extra {
		defs = append(defs, v)
	}
services:
	for _, s := range d.Services() {
		for _, f := range s.Features {
			if slices.Contains(drop, strings.Split(f, ":")[0]) {
				continue services
			}
		}
		defs = append(defs, s)
	}
	reg := features.NewRegistry()
	if err := reg.Register(defs...); err != nil {
		t.Fatal(err)
	}
	return reg
}

// bigOrders is a view the running service has never heard of.
func bigOrders() *features.View {
	return &features.View{Name: "user_big_orders", Entity: "user", Source: "orders", Cadence: features.Daily,
		TTL: 3 * 24 * time.Hour, Owner: "risk-team@shop.example", Description: "large orders per user",
		Aggregations: []features.Aggregation{{Name: "big_orders_7d", Kind: features.Count, Window: 7 * 24 * time.Hour,
			Where: &features.Predicate{Column: "amount", Op: features.Ge, Value: features.FloatValue(500)}, Description: "orders of 500 EUR or more"}}}
}

type serviceEnv struct {
	t      *testing.T
	client goredis.UniversalClient
	svc    *service
	event  time.Time
}

// publish applies reg's catalog the way `starter apply` does, and writes
// values for view with reg's definition (so with its fingerprint), as a
// worker running reg would.
func (e *serviceEnv) publish(reg *features.Registry, writes map[string][]features.Value) string {
	e.t.Helper()
	ctx := context.Background()
	store, err := redisstore.New(e.client, reg, redisstore.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	version, changed, err := store.PublishRegistry(ctx, reg)
	if err != nil || !changed {
		e.t.Fatalf("publish: changed %v err %v", changed, err)
	}
	for view, keys := range writes {
		if _, err := store.Write(ctx, view, testenv.Frame(e.t, reg, view, keys, e.event, e.event, testenv.Sample(7))); err != nil {
			e.t.Fatal(err)
		}
	}
	return version
}

func (e *serviceEnv) do(method, path, body string) (int, string) {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.svc.handler.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

// get asks for one feature of one entity and returns its status and value.
func (e *serviceEnv) get(ref, joinKey, key string) (int, string, string) {
	e.t.Helper()
	code, body := e.do(http.MethodPost, "/get-online-features",
		`{"features":["`+ref+`"],"entities":{"`+joinKey+`":[`+key+`]}}`)
	if code != http.StatusOK {
		return code, body, ""
	}
	var res struct {
		Results []struct {
			Values   []any    `json:"values"`
			Statuses []string `json:"statuses"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil || len(res.Results) != 2 {
		e.t.Fatalf("response %s: %v", body, err)
	}
	v, _ := json.Marshal(res.Results[1].Values[0])
	return code, res.Results[1].Statuses[0], string(v)
}

func (e *serviceEnv) catalogVersion() string {
	e.t.Helper()
	code, body := e.do(http.MethodGet, "/catalog", "")
	var c struct {
		Version string `json:"version"`
		Views   []struct {
			Name string `json:"name"`
		} `json:"views"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &c) != nil || len(c.Views) == 0 {
		e.t.Fatalf("/catalog: %d %s", code, body)
	}
	return c.Version
}

func (e *serviceEnv) metric(name string) string {
	e.t.Helper()
	_, body := e.do(http.MethodGet, "/metrics", "")
	var lines []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, name) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// waitVersion waits for the running service to serve version.
func (e *serviceEnv) waitVersion(version string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.catalogVersion() != version {
		if time.Now().After(deadline) {
			e.t.Fatalf("still serving %s, want %s", e.catalogVersion(), version)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The reader service serves the published catalog, and a view applied while
// it runs is served without a restart; so is a removal. A catalog version
// that cannot be loaded is refused and the previous one stays served. The
// served version shows in /catalog and in /metrics.
func TestServicePicksUpPublishedCatalogs(t *testing.T) {
	srv := testenv.StartRedis(t)
	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { client.Close() })
	e := &serviceEnv{t: t, client: client, event: time.Now().UTC().Add(-time.Hour).Truncate(time.Second)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	s, err := parseSettings([]string{"-redis", srv.URL(), "-catalog-poll", "20ms"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing published yet: the service refuses to start, saying why.
	if _, err := newService(ctx, s, client, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "run starter apply") {
		t.Fatalf("no catalog: err %v", err)
	}

	regA := demoRegistry(t, nil)
	vA := e.publish(regA, map[string][]features.Value{"user_orders": serving.StringKeys("u1"), "product_sales": serving.IntKeys(7)})
	if e.svc, err = newService(ctx, s, client, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	defer e.svc.reader.Close()
	done := make(chan error, 1)
	go func() { done <- e.svc.sync.Run(ctx) }()

	if code, st, v := e.get("user_orders:order_count_7d", "user_id", `"u1"`); code != 200 || st != "PRESENT" || v != "7000" {
		t.Fatalf("published catalog A: %d %s %s", code, st, v)
	}
	if code, body, _ := e.get("user_big_orders:big_orders_7d", "user_id", `"u1"`); code != 400 || !strings.Contains(body, `unknown view \"user_big_orders\"`) {
		t.Fatalf("a view not published yet: %d %s", code, body)
	}
	if e.catalogVersion() != vA || e.metric("skewfree_serving_catalog_info") != `skewfree_serving_catalog_info{version="`+vA+`"} 1` {
		t.Fatalf("version %s, metric %q; want %s", e.catalogVersion(), e.metric("skewfree_serving_catalog_info"), vA)
	}

	// A new view: published, computed by a worker running the new registry,
	// served by the running service.
	regB := demoRegistry(t, nil, bigOrders())
	vB := e.publish(regB, map[string][]features.Value{"user_big_orders": serving.StringKeys("u1")})
	e.waitVersion(vB)
	if code, st, v := e.get("user_big_orders:big_orders_7d", "user_id", `"u1"`); code != 200 || st != "PRESENT" || v != "7000" {
		t.Fatalf("new view: %d %s %s", code, st, v)
	}
	if code, st, _ := e.get("user_orders:order_count_7d", "user_id", `"u1"`); code != 200 || st != "PRESENT" {
		t.Fatalf("old view after the swap: %d %s", code, st)
	}
	if m := e.metric("skewfree_serving_catalog_info"); m != `skewfree_serving_catalog_info{version="`+vB+`"} 1` {
		t.Fatalf("metric %q, want version %s", m, vB)
	}
	if m := e.metric("skewfree_serving_catalog_reloads_total"); m != "skewfree_serving_catalog_reloads_total 1" {
		t.Fatalf("reloads %q", m)
	}

	// A value written by another definition of the new view (a feature of
	// another type) is NOT_FOUND, as for any view.
	other := bigOrders()
	other.Aggregations[0].Kind, other.Aggregations[0].Column, other.Aggregations[0].Where = features.Sum, "amount", nil
	regOther := demoRegistry(t, nil, other)
	ws, _ := redisstore.New(client, regOther, redisstore.Options{})
	if _, err := ws.Write(ctx, "user_big_orders", testenv.Frame(t, regOther, "user_big_orders", serving.StringKeys("u2"), e.event, e.event, testenv.Sample(3))); err != nil {
		t.Fatal(err)
	}
	if code, st, _ := e.get("user_big_orders:big_orders_7d", "user_id", `"u2"`); code != 200 || st != "NOT_FOUND" {
		t.Fatalf("value of another definition: %d %s", code, st)
	}

	// A bad version (an edited document) is refused: B stays served, and
	// the failure is counted.
	doc, _ := client.Get(ctx, "sf:catalog:"+vB).Result()
	bad := strings.Replace(doc, `"ttl_seconds":259200`, `"ttl_seconds":1`, 1)
	if bad == doc {
		t.Fatal("test document unchanged")
	}
	client.Set(ctx, "sf:catalog:0000000000000bad", bad, 0)
	client.Set(ctx, "sf:catalog:current", "0000000000000bad", 0)
	deadline := time.Now().Add(10 * time.Second)
	for e.metric("skewfree_serving_catalog_reload_failures_total") == "skewfree_serving_catalog_reload_failures_total 0" {
		if time.Now().After(deadline) {
			t.Fatal("the bad version was never tried")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if e.catalogVersion() != vB {
		t.Fatalf("serving %s after a bad version, want %s", e.catalogVersion(), vB)
	}
	if code, st, _ := e.get("user_big_orders:big_orders_7d", "user_id", `"u1"`); code != 200 || st != "PRESENT" {
		t.Fatalf("after a bad version: %d %s", code, st)
	}

	// A removed view goes unknown: a 400 naming it.
	regC := demoRegistry(t, []string{"product_sales"}, bigOrders())
	vC := e.publish(regC, nil)
	e.waitVersion(vC)
	if code, body, _ := e.get("product_sales:units_sold_7d", "user_id", `"u1"`); code != 400 || !strings.Contains(body, `unknown view \"product_sales\"`) {
		t.Fatalf("removed view: %d %s", code, body)
	}
	// Its join key went with it (no other view is keyed by product).
	if code, body, _ := e.get("product_sales:units_sold_7d", "product_id", `7`); code != 400 || !strings.Contains(body, `unknown join key \"product_id\"`) {
		t.Fatalf("removed view's join key: %d %s", code, body)
	}
	if code, body := e.do(http.MethodPost, "/get-online-features", `{"feature_service":"recommender","entities":{"user_id":["u1"]}}`); code != 400 || !strings.Contains(body, `unknown feature service \"recommender\"`) {
		t.Fatalf("removed service: %d %s", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// -registry=demo serves the compiled demo without any published catalog,
// and follows nothing.
func TestServiceDemoRegistry(t *testing.T) {
	srv := testenv.StartRedis(t)
	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { client.Close() })
	s, err := parseSettings([]string{"-redis", srv.URL(), "-registry", "demo"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := newService(context.Background(), s, client, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.reader.Close()
	if svc.sync != nil || svc.reader.Registry().CatalogVersion() != demo.Registry().CatalogVersion() {
		t.Fatalf("sync %v, version %s", svc.sync, svc.reader.Registry().CatalogVersion())
	}
	e := &serviceEnv{t: t, client: client, svc: svc}
	if code, st, _ := e.get("user_orders:order_count_7d", "user_id", `"u1"`); code != 200 || st != "NOT_FOUND" {
		t.Fatalf("%d %s", code, st)
	}
}
