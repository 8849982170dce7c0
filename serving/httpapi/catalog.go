package httpapi

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skewfree/skewfree/features"
)

// registryReader is an optional ability of a Reader, found by type
// assertion: the registry it serves now, which may be replaced while the
// service runs. *serving.Reader has it.
type registryReader interface {
	Registry() *features.Registry
}

// served is what the handler derives from one registry, built once per
// registry the reader switches to.
type served struct {
	reg      *features.Registry
	joinKeys map[string]features.Type
	version  string // the catalog version (features.Registry.CatalogVersion)
}

func newServed(reg *features.Registry) *served {
	s := &served{reg: reg, joinKeys: map[string]features.Type{}, version: reg.CatalogVersion()}
	for _, v := range reg.Views() {
		e := reg.EntityOf(v)
		s.joinKeys[e.JoinKey] = e.KeyType
	}
	return s
}

// registries follows the registry the reader serves.
type registries struct {
	static *features.Registry
	reader registryReader // nil: static only
	cur    atomic.Pointer[served]
}

func newRegistries(reg *features.Registry, reader Reader) *registries {
	rs := &registries{static: reg}
	rs.reader, _ = reader.(registryReader)
	if rs.reader == nil || rs.reader.Registry() == nil {
		rs.reader = nil
	}
	rs.cur.Store(newServed(reg))
	return rs
}

// current returns what the handler serves for a request starting now.
func (rs *registries) current() *served {
	cur := rs.cur.Load()
	if rs.reader == nil {
		return cur
	}
	if reg := rs.reader.Registry(); reg != cur.reg {
		cur = newServed(reg)
		rs.cur.Store(cur)
	}
	return cur
}

// catalogResponse is /catalog: the catalog export (the JSON of `starter
// catalog --json`) and, beside it, the version served.
type catalogResponse struct {
	Version string `json:"version"`
	features.Catalog
}

func writeCatalog(w http.ResponseWriter, s *served) {
	w.Header().Set("X-Skewfree-Catalog-Version", s.version)
	writeJSON(w, http.StatusOK, catalogResponse{Version: s.version, Catalog: s.reg.Catalog()})
}

// catalogInfo is skewfree_serving_catalog_info{version="..."} 1: the
// catalog version this process serves.
type catalogInfo struct{ rs *registries }

var catalogInfoDesc = prometheus.NewDesc("skewfree_serving_catalog_info",
	"The catalog version served (features.Registry.CatalogVersion), as a label; always 1.", []string{"version"}, nil)

func (c catalogInfo) Describe(ch chan<- *prometheus.Desc) { ch <- catalogInfoDesc }

func (c catalogInfo) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(catalogInfoDesc, prometheus.GaugeValue, 1, c.rs.current().version)
}
