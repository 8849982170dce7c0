package catalogsync_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/serving/catalogsync"
)

// source serves documents from memory; a nil document panics (a decoder
// bug stand-in), an absent one is an error.
type source struct {
	current string
	docs    map[string][]byte
}

func (s *source) CurrentCatalog(context.Context) (string, error) { return s.current, nil }

func (s *source) CatalogDocument(_ context.Context, v string) ([]byte, error) {
	d, ok := s.docs[v]
	if !ok {
		return nil, &missing{v}
	}
	if d == nil {
		panic("boom")
	}
	return d, nil
}

type missing struct{ v string }

func (m *missing) Error() string { return "version " + m.v + " missing" }

type target struct {
	reg atomic.Pointer[features.Registry]
}

func (t *target) Registry() *features.Registry       { return t.reg.Load() }
func (t *target) SetRegistry(reg *features.Registry) { t.reg.Store(reg) }

// countHandler counts error records.
type countHandler struct{ n atomic.Int64 }

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.n.Add(1)
	}
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

// A version that cannot be loaded — missing, corrupt, or crashing the
// loader — leaves the served registry in place; each attempt is counted,
// each version logged once; a good version is then swapped in.
func TestCheckKeepsServingOnBadVersions(t *testing.T) {
	ctx := context.Background()
	reg := demo.Registry()
	v, doc, err := reg.PublishedCatalog()
	if err != nil {
		t.Fatal(err)
	}
	old, err := features.RegistryFromPublished(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := reg.Catalog()
	c.Views = c.Views[:1]
	c.Services = nil
	smaller, _ := features.RegistryFromCatalog(c)
	v2, doc2, _ := smaller.PublishedCatalog()

	src := &source{docs: map[string][]byte{v: doc, "crash": nil, "corrupt": []byte(`{"format":1,"version":"corrupt","catalog":{}}`), v2: doc2}}
	tgt := &target{}
	tgt.SetRegistry(old)
	logs := &countHandler{}
	metrics := prometheus.NewRegistry()
	s, err := catalogsync.New(src, tgt, catalogsync.Options{Registerer: metrics, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct{ current, wantErr string }{
		{"crash", "panic while loading"}, {"crash", "panic while loading"},
		{"corrupt", "content hashes to"}, {"gone", "version gone missing"},
	} {
		src.current = tc.current
		changed, err := s.Check(ctx)
		if changed || err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Fatalf("step %d (%s): changed %v err %v", i, tc.current, changed, err)
		}
		if tgt.Registry() != old {
			t.Fatalf("step %d: the served registry changed", i)
		}
	}
	if got := counter(t, metrics, "skewfree_serving_catalog_reload_failures_total"); got != 4 {
		t.Fatalf("failures %v, want 4 (every attempt)", got)
	}
	if logs.n.Load() != 3 {
		t.Fatalf("%d error logs, want 3 (once per version)", logs.n.Load())
	}
	src.current = v
	if changed, err := s.Check(ctx); changed || err != nil {
		t.Fatalf("the served version: changed %v err %v", changed, err)
	}
	src.current = v2
	if changed, err := s.Check(ctx); !changed || err != nil || tgt.Registry().CatalogVersion() != v2 {
		t.Fatalf("good version: changed %v err %v", changed, err)
	}
	if counter(t, metrics, "skewfree_serving_catalog_reloads_total") != 1 {
		t.Fatal("the reload was not counted")
	}
	if _, ok := tgt.Registry().View("user_activity"); ok {
		t.Fatal("the new registry still has a removed view")
	}
}

func counter(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
