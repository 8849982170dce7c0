// Package catalogsync keeps a reader service on the published catalog: it
// loads the catalog version that `starter apply` published (see
// docs/format/published-catalog.md), builds a serving-only registry from it
// (features.RegistryFromPublished), and polls for a newer version, which it
// swaps into the running reader (serving.Reader.SetRegistry) without a
// restart. A version that fails to load is logged and counted, and the one
// served before stays served.
//
// It is a package of its own so the serving library stays free of it: a
// team that links serving.Reader into its inference binary keeps passing a
// compiled registry.
package catalogsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skewfree/skewfree/features"
)

// Source is where catalogs are published; *redis.Store (store/redis)
// implements it. It must be safe for concurrent use.
type Source interface {
	// CurrentCatalog returns the version readers should serve.
	CurrentCatalog(ctx context.Context) (string, error)
	// CatalogDocument returns the published document of a version.
	CatalogDocument(ctx context.Context, version string) ([]byte, error)
}

// Target is the reader whose registry is kept current; *serving.Reader
// implements it.
type Target interface {
	Registry() *features.Registry
	SetRegistry(reg *features.Registry)
}

// Load reads the current published catalog and builds its registry.
func Load(ctx context.Context, src Source) (*features.Registry, error) {
	version, err := src.CurrentCatalog(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalogsync: %w", err)
	}
	return loadVersion(ctx, src, version)
}

func loadVersion(ctx context.Context, src Source, version string) (reg *features.Registry, err error) {
	// The document is outside input: a decoder bug must not take the
	// service down.
	defer func() {
		if v := recover(); v != nil {
			reg, err = nil, fmt.Errorf("catalogsync: catalog %s: panic while loading: %v", version, v)
		}
	}()
	doc, err := src.CatalogDocument(ctx, version)
	if err != nil {
		return nil, fmt.Errorf("catalogsync: %w", err)
	}
	reg, err = features.RegistryFromPublished(doc)
	if err != nil {
		return nil, fmt.Errorf("catalogsync: %w", err)
	}
	if reg.CatalogVersion() != version {
		return nil, fmt.Errorf("catalogsync: the pointer names catalog %s, its document is version %s", version, reg.CatalogVersion())
	}
	return reg, nil
}

// Options configure a Syncer. The zero value is valid: every field
// documents its default.
type Options struct {
	// Interval is how often the published pointer is read. Default 5s.
	Interval time.Duration
	// Registerer receives skewfree_serving_catalog_reloads_total and
	// skewfree_serving_catalog_reload_failures_total. Default: none.
	Registerer prometheus.Registerer
	// Logger receives reloads and failed loads. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	if o.Interval < 0 {
		return fmt.Errorf("catalogsync: interval %s is negative", o.Interval)
	}
	return nil
}

func (o *Options) init() {
	if o.Interval == 0 {
		o.Interval = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Syncer follows the published catalog for one reader. Check and Run may be
// called concurrently (calls are serialized).
type Syncer struct {
	src    Source
	target Target
	opts   Options

	mu         sync.Mutex
	failed     string // the version that failed last, so each is logged once
	reloads    prometheus.Counter
	failures   prometheus.Counter
	lastFailed error
}

// New returns a syncer that keeps target on the catalog src publishes.
func New(src Source, target Target, opts Options) (*Syncer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.init()
	s := &Syncer{src: src, target: target, opts: opts,
		reloads: prometheus.NewCounter(prometheus.CounterOpts{Name: "skewfree_serving_catalog_reloads_total",
			Help: "Published catalog versions loaded and swapped in while serving."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "skewfree_serving_catalog_reload_failures_total",
			Help: "Attempts to load a published catalog version that failed; the version served before stays served."}),
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{s.reloads, s.failures} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("catalogsync: register metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Check reads the pointer once and, when it names another version than the
// one served, loads that version and swaps it in. changed says whether it
// did. On an error nothing changes: the reader keeps its registry.
func (s *Syncer) Check(ctx context.Context) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	served := s.target.Registry().CatalogVersion()
	version, err := s.src.CurrentCatalog(ctx)
	if err != nil {
		return false, s.fail(version, fmt.Errorf("catalogsync: %w", err))
	}
	if version == served {
		s.failed = ""
		return false, nil
	}
	reg, err := loadVersion(ctx, s.src, version)
	if err != nil {
		return false, s.fail(version, err)
	}
	s.target.SetRegistry(reg)
	s.failed = ""
	s.reloads.Inc()
	s.opts.Logger.Info("catalogsync: serving a new catalog version", "version", version, "previous", served, "views", len(reg.Views()))
	return true, nil
}

// fail counts a failed check and logs it, once per version and error.
func (s *Syncer) fail(version string, err error) error {
	s.failures.Inc()
	if s.failed != version || s.lastFailed == nil || s.lastFailed.Error() != err.Error() {
		s.opts.Logger.Error("catalogsync: cannot load the published catalog; still serving the previous one",
			"version", version, "serving", s.target.Registry().CatalogVersion(), "err", err)
	}
	s.failed, s.lastFailed = version, err
	return err
}

// Run checks every Interval until ctx ends, then returns nil. Failed checks
// are logged and counted, never fatal.
func (s *Syncer) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, max(s.opts.Interval, time.Second))
		_, err := s.Check(cctx)
		cancel()
		if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return nil
		}
	}
}
