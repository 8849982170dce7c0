package features

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// A published catalog is the registry's catalog as data, for processes that
// serve features without the registry's code: `starter apply` publishes it
// (see docs/format/published-catalog.md) and the reader service builds a
// serving-only registry from it with RegistryFromCatalog. It carries what a
// reader needs — entities and join keys, views with their TTL, features,
// types and fingerprints, services — and is versioned by a hash of its
// content, so publishing the same registry twice is the same version.

// PublishedFormat is the format number of a published catalog document.
const PublishedFormat = 1

// publishedDoc is the published document: the catalog's exact bytes, so
// that the version (a hash of them) can be checked by every reader.
type publishedDoc struct {
	Format  int             `json:"format"`
	Version string          `json:"version"`
	Catalog json.RawMessage `json:"catalog"`
}

// catalogVersion is the version of a catalog's JSON bytes: the first 8 bytes
// of their SHA-256, in hex, like a view's fingerprint.
func catalogVersion(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// PublishedCatalog returns the registry's catalog as a published document
// and its version. The same definitions always give the same bytes and
// version. It fails when the catalog cannot carry a definition exactly: a
// TTL that is not a whole number of seconds (the catalog has ttl_seconds,
// and a reader must apply the very TTL training sets apply).
func (r *Registry) PublishedCatalog() (version string, doc []byte, err error) {
	if r.published != nil {
		return r.version, r.doc, nil
	}
	for _, v := range r.Views() {
		if v.TTL%time.Second != 0 {
			return "", nil, fmt.Errorf("publish catalog: view %q: TTL %s is not a whole number of seconds, which the catalog (ttl_seconds) cannot carry", v.Name, v.TTL)
		}
	}
	cat, err := json.Marshal(r.Catalog())
	if err != nil {
		return "", nil, fmt.Errorf("publish catalog: %w", err)
	}
	version = catalogVersion(cat)
	doc, err = json.Marshal(publishedDoc{Format: PublishedFormat, Version: version, Catalog: cat})
	if err != nil {
		return "", nil, fmt.Errorf("publish catalog: %w", err)
	}
	return version, doc, nil
}

// CatalogVersion is the version of the registry's catalog: the published
// one's for a registry built by RegistryFromPublished, else the version
// PublishedCatalog would give ("" if it cannot publish).
func (r *Registry) CatalogVersion() string {
	v, _, _ := r.PublishedCatalog()
	return v
}

// RegistryFromPublished parses a published catalog document, checks that
// its content matches its version, and builds a serving-only registry from
// it (see RegistryFromCatalog).
func RegistryFromPublished(doc []byte) (*Registry, error) {
	var d publishedDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("published catalog: %w", err)
	}
	if d.Format != PublishedFormat {
		return nil, fmt.Errorf("published catalog %s: format %d unknown (this reader reads format %d)", d.Version, d.Format, PublishedFormat)
	}
	if got := catalogVersion(d.Catalog); got != d.Version {
		return nil, fmt.Errorf("published catalog %s: content hashes to %s: corrupt or edited", d.Version, got)
	}
	dec := json.NewDecoder(bytes.NewReader(d.Catalog))
	var c Catalog
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("published catalog %s: %w", d.Version, err)
	}
	r, err := RegistryFromCatalog(c)
	if err != nil {
		return nil, fmt.Errorf("published catalog %s: %w", d.Version, err)
	}
	r.version, r.doc = d.Version, bytes.Clone(doc)
	return r, nil
}

// RegistryFromCatalog builds a serving-only registry from a catalog: its
// entities, views (names, entity, TTL, features and their types, and the
// published fingerprints, which Fingerprint returns) and services. It has no
// sources and no transforms, so it serves values but cannot compute them:
// give it to serving.New, never to a worker. Catalog returns c itself.
// A catalog that could not have come from a valid registry is refused with
// an error naming the bad entry.
func RegistryFromCatalog(c Catalog) (*Registry, error) {
	r := NewRegistry()
	for i, e := range c.Entities {
		ent := &Entity{Name: e.Name, JoinKey: e.JoinKey, KeyType: e.Type, Description: e.Description}
		if err := r.addEntity(ent); err != nil {
			return nil, fmt.Errorf("catalog entity %d: %w", i, err)
		}
	}
	for i, cv := range c.Views {
		if err := r.addCatalogView(cv); err != nil {
			return nil, fmt.Errorf("catalog view %d: %w", i, err)
		}
	}
	for i, s := range c.Services {
		svc := &Service{Name: s.Name, Description: s.Description, Owner: s.Owner, Features: append([]string(nil), s.Features...)}
		if err := r.addService(svc); err != nil {
			return nil, fmt.Errorf("catalog service %d: %w", i, err)
		}
	}
	cp, err := cloneCatalog(c)
	if err != nil {
		return nil, err
	}
	r.published = &cp
	cat, err := json.Marshal(cp)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	r.version = catalogVersion(cat)
	r.doc, _ = json.Marshal(publishedDoc{Format: PublishedFormat, Version: r.version, Catalog: cat})
	return r, nil
}

// maxFingerprint is the longest fingerprint the online value header holds.
const maxFingerprint = 255

func (r *Registry) addCatalogView(cv CatalogView) error {
	if err := checkName("view", cv.Name); err != nil {
		return err
	}
	if _, dup := r.views[cv.Name]; dup {
		return fmt.Errorf("view %q listed twice", cv.Name)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("view %q: %s", cv.Name, fmt.Sprintf(format, args...))
	}
	ent, ok := r.entities[cv.Entity]
	if !ok {
		return fail("unknown entity %q", cv.Entity)
	}
	if cv.Cadence.Duration() == 0 {
		return fail("cadence %q unknown (want hourly or daily)", cv.Cadence)
	}
	if cv.TTLSeconds < 0 || cv.TTLSeconds > int64(100*365*24*time.Hour/time.Second) {
		return fail("ttl_seconds %d out of range", cv.TTLSeconds)
	}
	if cv.Lateness < 0 || cv.Lateness > int64(7*24*time.Hour/time.Second) {
		return fail("lateness_seconds %d out of range [0, 7d]", cv.Lateness)
	}
	if cv.Fingerprint == "" || len(cv.Fingerprint) > maxFingerprint {
		return fail("fingerprint %q invalid: want 1 to %d bytes", cv.Fingerprint, maxFingerprint)
	}
	if len(cv.Features) == 0 {
		return fail("has no features")
	}
	seen := map[string]bool{ent.JoinKey: true}
	feats := make([]Feature, 0, len(cv.Features))
	for _, f := range cv.Features {
		if err := checkName("feature", f.Name); err != nil {
			return fail("%v", err)
		}
		if seen[f.Name] || reserved[f.Name] {
			return fail("feature %q defined twice or reserved", f.Name)
		}
		seen[f.Name] = true
		if f.Type == Invalid || f.Type > Bool {
			return fail("feature %q has no valid type", f.Name)
		}
		feats = append(feats, Feature{Name: f.Name, Type: f.Type, Description: f.Description})
	}
	v := &View{Name: cv.Name, Entity: cv.Entity, Source: cv.Source, Cadence: cv.Cadence,
		TTL: time.Duration(cv.TTLSeconds) * time.Second, Lateness: time.Duration(cv.Lateness) * time.Second,
		Owner: cv.Owner, Description: cv.Description, Tags: cv.Tags,
		// The features, in stored order, with no code behind them: this
		// view is only ever read.
		Func: &FuncTransform{Features: feats, Version: "published catalog"}}
	if cv.Fresh != nil {
		// A fresh view's reader merges tiles: it needs the aggregations.
		if err := freshFromCatalog(v, cv.Fresh, feats); err != nil {
			return fail("%v", err)
		}
	}
	r.views[v.Name] = v
	r.order.views = append(r.order.views, v.Name)
	r.prints[v.Name] = cv.Fingerprint
	return nil
}

// cloneCatalog deep-copies c through its JSON form, so that the registry's
// copy shares nothing with the caller's.
func cloneCatalog(c Catalog) (Catalog, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return Catalog{}, fmt.Errorf("catalog: %w", err)
	}
	var out Catalog
	if err := json.Unmarshal(b, &out); err != nil {
		return Catalog{}, fmt.Errorf("catalog: %w", err)
	}
	return out, nil
}
