// Package web serves the catalog as a web page: a searchable list of views,
// features and feature services, and a page for each with its definition in
// words, owner, tags, lineage, freshness (stale views stand out), check
// results and small charts of rows, null rate and mean over recent windows.
//
// Pages are rendered on the server with html/template, so every piece of
// registry text is escaped (a description holding HTML shows as text). CSS
// and the few lines of JavaScript (a filter as you type) are embedded: the
// page needs no build step and no network. `starter catalog serve` and
// `make dev` serve it; the inference reader (serving/server) does not link it.
package web

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/skewfree/skewfree/catalog"
	"github.com/skewfree/skewfree/features"
)

// DefaultAddr is where `starter catalog serve` and `make dev` serve the page.
const DefaultAddr = "127.0.0.1:8788"

//go:embed templates/*.html static/*
var assets embed.FS

// Options of New.
type Options struct {
	// Runs lists run records; nil shows every view as never published.
	Runs catalog.RunLister
	// Now is the clock freshness is judged by; nil means time.Now.
	Now func() time.Time
	// Windows is how many recent windows the pages show; 0 means 30.
	Windows int
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

type handler struct {
	reg   *features.Registry
	opt   Options
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New returns the catalog's HTTP handler for reg. Each request builds the
// catalog afresh (run records are small files), so freshness is always
// current. It is safe for concurrent use if opt.Runs is.
func New(reg *features.Registry, opt Options) (http.Handler, error) {
	if reg == nil {
		return nil, errors.New("catalog web: nil registry")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	h := &handler{reg: reg, opt: opt, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("catalog web: templates: %w", err)
	}
	for _, p := range []string{"index", "view", "feature", "service", "notfound"} {
		t, err := template.Must(layout.Clone()).ParseFS(assets, "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("catalog web: template %s: %w", p, err)
		}
		h.pages[p] = t
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /{$}", h.index)
	h.mux.HandleFunc("GET /view/{name}", h.view)
	h.mux.HandleFunc("GET /feature/{ref}", h.feature)
	h.mux.HandleFunc("GET /service/{name}", h.service)
	h.mux.HandleFunc("GET /catalog.json", h.json)
	h.mux.HandleFunc("/", h.unknown)
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	h.mux.ServeHTTP(w, r)
}

// page is what every template sees.
type page struct {
	Title   string
	Query   string
	Cat     *catalog.Catalog
	Results catalog.Results
	View    *catalog.View
	Feature *catalog.Feature
	Service *catalog.Service
	Charts  []Chart
	// NotFound: what was asked for and the closest names, as links.
	Missing string
	Closest []link
}

type link struct{ Kind, Name, Href string }

func (h *handler) build(w http.ResponseWriter, r *http.Request) (*catalog.Catalog, bool) {
	c, err := catalog.Build(r.Context(), h.reg, catalog.Options{Now: h.opt.Now(), Runs: h.opt.Runs, Windows: h.opt.Windows})
	if err != nil {
		h.opt.Logger.Error("catalog web: build", "error", err)
		http.Error(w, "catalog unavailable: "+err.Error(), http.StatusInternalServerError)
		return nil, false
	}
	return c, true
}

func (h *handler) render(w http.ResponseWriter, status int, name string, p page) {
	var b strings.Builder
	if err := h.pages[name].ExecuteTemplate(&b, "layout.html", p); err != nil {
		h.opt.Logger.Error("catalog web: render", "page", name, "error", err)
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

func (h *handler) index(w http.ResponseWriter, r *http.Request) {
	c, ok := h.build(w, r)
	if !ok {
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	h.render(w, http.StatusOK, "index", page{Title: "Feature catalog", Query: q, Cat: c, Results: c.Search(q)})
}

func (h *handler) view(w http.ResponseWriter, r *http.Request) {
	c, ok := h.build(w, r)
	if !ok {
		return
	}
	v, err := c.View(r.PathValue("name"))
	if err != nil {
		h.notFound(w, c, err)
		return
	}
	h.render(w, http.StatusOK, "view", page{Title: v.Name, Cat: c, View: v, Charts: viewCharts(v)})
}

func (h *handler) feature(w http.ResponseWriter, r *http.Request) {
	c, ok := h.build(w, r)
	if !ok {
		return
	}
	ref := r.PathValue("ref")
	f, err := c.Feature(ref)
	if err != nil {
		h.notFound(w, c, err)
		return
	}
	if f.Ref != ref { // a bare name: send to the one page of the feature
		http.Redirect(w, r, "/feature/"+url.PathEscape(f.Ref), http.StatusFound)
		return
	}
	h.render(w, http.StatusOK, "feature", page{Title: f.Ref, Cat: c, Feature: f, View: f.Parent(), Charts: featureCharts(f)})
}

func (h *handler) service(w http.ResponseWriter, r *http.Request) {
	c, ok := h.build(w, r)
	if !ok {
		return
	}
	s, err := c.Service(r.PathValue("name"))
	if err != nil {
		h.notFound(w, c, err)
		return
	}
	h.render(w, http.StatusOK, "service", page{Title: s.Name, Cat: c, Service: s})
}

func (h *handler) json(w http.ResponseWriter, r *http.Request) {
	c, ok := h.build(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(c)
}

// unknown answers any other path with 404 and the names closest to its last
// segment, of every kind.
func (h *handler) unknown(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	c, ok := h.build(w, r)
	if !ok {
		return
	}
	name := path.Base(r.URL.Path)
	var cands []string
	kinds := map[string]link{}
	add := func(kind, n, href string) {
		cands = append(cands, n)
		kinds[n] = link{kind, n, href}
	}
	for _, v := range c.Views {
		add("view", v.Name, "/view/"+url.PathEscape(v.Name))
		for _, f := range v.Features {
			add("feature", f.Ref, "/feature/"+url.PathEscape(f.Ref))
		}
	}
	for _, s := range c.Services {
		add("service", s.Name, "/service/"+url.PathEscape(s.Name))
	}
	var closest []link
	for _, n := range catalog.Closest(name, cands, 5) {
		closest = append(closest, kinds[n])
	}
	h.render(w, http.StatusNotFound, "notfound", page{Title: "Not found", Cat: c, Missing: "page " + r.URL.Path, Closest: closest})
}

func (h *handler) notFound(w http.ResponseWriter, c *catalog.Catalog, err error) {
	var nf *catalog.NotFoundError
	if !errors.As(err, &nf) {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p := page{Title: "Not found", Cat: c, Missing: nf.Kind + " " + nf.Name}
	if nf.Ambiguous {
		p.Missing = "one feature named " + nf.Name + " (several views have one)"
	}
	for _, n := range nf.Closest {
		p.Closest = append(p.Closest, link{nf.Kind, n, "/" + nf.Kind + "/" + url.PathEscape(n)})
	}
	h.render(w, http.StatusNotFound, "notfound", p)
}

var funcs = template.FuncMap{
	"dur":  catalog.Duration,
	"ttl":  catalog.TTLWords,
	"when": catalog.Time,
	"whenp": func(t *time.Time) string {
		if t == nil {
			return "not yet"
		}
		return catalog.Time(*t)
	},
	"pct": func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"num": func(f *float64) string {
		if f == nil {
			return "–"
		}
		return fmt.Sprintf("%.4g", *f)
	},
	"fresh": func(f catalog.Freshness) string {
		switch {
		case f.LastPublishedWindowEnd == nil:
			return "never"
		case f.Stale:
			return "stale"
		}
		return "fresh"
	},
	"checks":    catalog.RunChecks,
	"checkText": catalog.CheckWords,
	"featureRun": func(r catalog.Run, name string) (catalog.FeatureRun, error) {
		return r.Features[name], nil
	},
	"failed": func(cs []features.CheckResult) int {
		n := 0
		for _, c := range cs {
			if !c.Passed {
				n++
			}
		}
		return n
	},
	"lower": strings.ToLower,
	"join":  strings.Join,
	"path":  url.PathEscape,
	"add":   func(a, b int) int { return a + b },
}
