// Package catalog builds what people read about a feature repository: every
// view, feature and feature service with its definition in words, owner,
// tags, TTL, lineage (source → view → feature → services), freshness and
// recent runs with their data-quality checks. The `starter catalog` and
// `starter describe` commands print it, package catalog/web serves it as a
// web page, and its JSON export extends the registry's (features.Catalog)
// without changing any of its fields.
//
// A Catalog is a snapshot: Build reads the registry and the run records once,
// judging freshness at Options.Now (the package never reads the clock).
package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/skewfree/skewfree/features"
)

// Catalog is a snapshot of a registry and its runs. It is only read after
// Build returns, so it is safe for concurrent use.
type Catalog struct {
	// Now is the instant freshness was judged at.
	Now      time.Time                `json:"now"`
	Entities []features.CatalogEntity `json:"entities"`
	Views    []*View                  `json:"views"`
	Services []*Service               `json:"services"`
	// Lineage lists every edge source → view → feature → service, with
	// nodes named "source:orders", "view:user_orders",
	// "feature:user_orders:spend_30d" and "service:fraud_model".
	Lineage []Edge `json:"lineage"`

	views    map[string]*View
	services map[string]*Service
}

// View is a feature view: the registry's export of it (every field of
// features.CatalogView), its schedule in words, freshness, lineage, and the
// recent runs (not in the JSON export: docs/format/runs.md has those).
type View struct {
	features.CatalogView
	Schedule  string      `json:"schedule"`
	Features  []*Feature  `json:"features"`
	Freshness Freshness   `json:"freshness"`
	Lineage   ViewLineage `json:"lineage"`
	// Checks are the view's declared data-quality checks, each with its
	// latest result; OnCheckFailure is what a run does when one fails.
	Checks         []DeclaredCheck `json:"checks"`
	OnCheckFailure CheckPolicy     `json:"on_check_failure"`
	// Runs are the recent windows, newest first.
	Runs []Run `json:"-"`
}

// ViewLineage is where a view's data comes from and who reads it.
type ViewLineage struct {
	Source            string   `json:"source"`
	SourceDescription string   `json:"source_description,omitempty"`
	Entity            string   `json:"entity"`
	JoinKey           string   `json:"join_key"`
	Services          []string `json:"services"` // services using any feature of the view
}

// Feature is one feature: the registry's export (name, type, description,
// definition, used_by) plus its reference and its definition in words.
type Feature struct {
	features.CatalogFeature
	View string `json:"view"`
	// Ref is "view:feature".
	Ref     string `json:"ref"`
	InWords string `json:"in_words"`
	// GoFunction is set for a feature computed by the view's Go function.
	GoFunction bool `json:"go_function,omitempty"`

	view *View
}

// Parent is the view the feature belongs to.
func (f *Feature) Parent() *View { return f.view }

// Service is a feature service (the features one model reads), with the
// views it reads from.
type Service struct {
	features.CatalogService
	Views []string `json:"views"`
	// StaleViews are the views of Views that are stale (or never published).
	StaleViews []string `json:"stale_views"`
}

// Edge is one lineage edge.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Options of Build.
type Options struct {
	// Now is the instant freshness is judged at. Required.
	Now time.Time
	// Runs lists run records; nil means none are known, and every view is
	// "never published".
	Runs RunLister
	// Windows is how many recent windows each view keeps in Runs; 0 means 30.
	Windows int
}

// Build makes the catalog of reg at opt.Now, reading each view's recent run
// records through opt.Runs.
func Build(ctx context.Context, reg *features.Registry, opt Options) (*Catalog, error) {
	if reg == nil {
		return nil, errors.New("catalog: nil registry")
	}
	if opt.Now.IsZero() {
		return nil, errors.New("catalog: Options.Now is required")
	}
	if opt.Windows == 0 {
		opt.Windows = 30
	}
	if opt.Windows < 0 {
		return nil, fmt.Errorf("catalog: Options.Windows %d is negative", opt.Windows)
	}
	now := opt.Now.UTC()
	base := reg.Catalog()
	c := &Catalog{Now: now, Entities: base.Entities, Views: []*View{}, Services: []*Service{}, Lineage: []Edge{},
		views: map[string]*View{}, services: map[string]*Service{}}

	servicesOf := map[string][]string{} // view -> services using it
	for _, s := range base.Services {
		svc := &Service{CatalogService: s, Views: []string{}, StaleViews: []string{}}
		seen := map[string]bool{}
		for _, ref := range s.Features {
			r, err := features.ParseRef(ref)
			if err != nil {
				return nil, fmt.Errorf("catalog: service %s: %w", s.Name, err)
			}
			if !seen[r.View] {
				seen[r.View] = true
				svc.Views = append(svc.Views, r.View)
				servicesOf[r.View] = append(servicesOf[r.View], s.Name)
			}
		}
		c.Services = append(c.Services, svc)
		c.services[s.Name] = svc
	}

	for i, cv := range base.Views {
		def, ok := reg.View(cv.Name)
		if !ok {
			return nil, fmt.Errorf("catalog: view %s vanished from the registry", cv.Name)
		}
		ent := reg.EntityOf(def)
		src := reg.SourceOf(def)
		v := &View{CatalogView: base.Views[i], Schedule: ScheduleInWords(def),
			Lineage: ViewLineage{Source: src.Name, SourceDescription: src.Description, Entity: ent.Name, JoinKey: ent.JoinKey,
				Services: append([]string{}, servicesOf[def.Name]...)}}
		v.CatalogView.Features = nil // the extended list below replaces it
		funcFeature := map[string]bool{}
		if def.Func != nil {
			for _, f := range def.Func.Features {
				funcFeature[f.Name] = true
			}
		}
		c.Lineage = append(c.Lineage, Edge{From: "source:" + src.Name, To: "view:" + def.Name})
		for _, cf := range cv.Features {
			f := &Feature{CatalogFeature: cf, View: def.Name, Ref: def.Name + ":" + cf.Name,
				InWords: FeatureInWords(reg, def, cf.Name), GoFunction: funcFeature[cf.Name], view: v}
			v.Features = append(v.Features, f)
			c.Lineage = append(c.Lineage, Edge{From: "view:" + def.Name, To: "feature:" + f.Ref})
			for _, s := range cf.UsedBy {
				c.Lineage = append(c.Lineage, Edge{From: "feature:" + f.Ref, To: "service:" + s})
			}
		}
		if err := loadRuns(ctx, v, def, opt.Runs, now, opt.Windows); err != nil {
			return nil, err
		}
		v.Checks, v.OnCheckFailure = declaredChecks(def, v.Runs), PolicyOf(def.OnCheckFailure)
		c.Views = append(c.Views, v)
		c.views[v.Name] = v
	}
	for _, s := range c.Services {
		for _, vn := range s.Views {
			if c.views[vn].Freshness.Stale {
				s.StaleViews = append(s.StaleViews, vn)
			}
		}
	}
	return c, nil
}

// loadRuns reads the view's recent windows and its freshness. When no
// recent window was published it looks further back for the newest one, so
// a view stale for months still says since when.
func loadRuns(ctx context.Context, v *View, def *features.View, runs RunLister, now time.Time, windows int) error {
	if runs == nil {
		v.Freshness = freshness(def, nil, now)
		v.Runs = []Run{}
		return nil
	}
	from := now.Add(-time.Duration(windows+1)*def.Cadence.Duration() - def.Lateness)
	recs, err := runs.RunRecords(ctx, def.Name, from, time.Time{})
	if err != nil {
		return fmt.Errorf("catalog: runs of %s: %w", def.Name, err)
	}
	list, lastPub := summarize(recs, now)
	if lastPub == nil {
		older, err := runs.RunRecords(ctx, def.Name, time.Time{}, from)
		if err != nil {
			return fmt.Errorf("catalog: runs of %s: %w", def.Name, err)
		}
		_, lastPub = summarize(older, now)
	}
	if len(list) > windows {
		list = list[:windows]
	}
	if list == nil {
		list = []Run{}
	}
	v.Runs = list
	v.Freshness = freshness(def, lastPub, now)
	return nil
}

// Features lists every feature of every view, in registry order.
func (c *Catalog) Features() []*Feature {
	var out []*Feature
	for _, v := range c.Views {
		out = append(out, v.Features...)
	}
	return out
}

// ViewsOf returns the views service s reads, in its order.
func (c *Catalog) ViewsOf(s *Service) []*View {
	out := make([]*View, 0, len(s.Views))
	for _, n := range s.Views {
		if v, ok := c.views[n]; ok {
			out = append(out, v)
		}
	}
	return out
}

// FeaturesOf returns the features service s reads, in its order.
func (c *Catalog) FeaturesOf(s *Service) []*Feature {
	out := make([]*Feature, 0, len(s.Features))
	for _, ref := range s.Features {
		if f, err := c.Feature(ref); err == nil {
			out = append(out, f)
		}
	}
	return out
}

// Computation is InWords without the entity and schedule, which a view's
// page already shows once: "sum of amount over orders over the last 30 days".
func (f *Feature) Computation() string {
	return strings.Replace(f.InWords, ", per "+f.view.Entity+", "+f.view.Schedule, "", 1)
}
