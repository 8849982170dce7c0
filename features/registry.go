package features

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Registry holds every definition of a feature repository. Definitions are
// checked as they are registered, so a bad one fails at program start with an
// error naming it, not at 3 a.m. inside a pipeline. A Registry is built once
// and then only read; reads are safe for concurrent use, Register is not.
type Registry struct {
	entities map[string]*Entity
	sources  map[string]*Source
	views    map[string]*View
	services map[string]*Service
	order    struct{ entities, sources, views, services []string }
	prints   map[string]string
	// published is the catalog a registry was built from
	// (RegistryFromCatalog), with its version and document; nil for a
	// registry of code.
	published *Catalog
	version   string
	doc       []byte
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		entities: map[string]*Entity{},
		sources:  map[string]*Source{},
		views:    map[string]*View{},
		services: map[string]*Service{},
		prints:   map[string]string{},
	}
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// reserved are column names the stores use themselves.
var reserved = map[string]bool{"event_timestamp": true, "created_timestamp": true}

func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%s name %q is invalid: use lowercase letters, digits and _, starting with a letter", kind, name)
	}
	if strings.Contains(name, "__") {
		return fmt.Errorf("%s name %q is invalid: \"__\" separates view and feature in column names", kind, name)
	}
	return nil
}

// Register adds definitions, in dependency order (entities and sources before
// the views that use them, views before services). It stops at the first bad
// definition and returns an error naming it.
func (r *Registry) Register(defs ...any) error {
	for _, d := range defs {
		var err error
		switch d := d.(type) {
		case *Entity:
			err = r.addEntity(d)
		case *Source:
			err = r.addSource(d)
		case *View:
			err = r.addView(d)
		case *Service:
			err = r.addService(d)
		default:
			err = fmt.Errorf("registry: cannot register %T", d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// MustRegister is Register for package-level demo repositories; it panics.
func (r *Registry) MustRegister(defs ...any) *Registry {
	if err := r.Register(defs...); err != nil {
		panic(err)
	}
	return r
}

// TTLMargin is what a view's TTL must cover beyond cadence + lateness: the
// run that computes the next window. The value for window E expires at
// E + TTL, and the next one (window E + cadence) reaches the online store at
// E + cadence + lateness + the run's duration; a TTL without room for the
// run makes every entity NOT_FOUND for a while each cadence, while training
// sets (which apply the same TTL) still have a value, which is skew.
// One hour covers a compute attempt's 30-minute limit with a retry and the
// push that follows; a run slower than that already pages someone.
const TTLMargin = time.Hour

// MinTTL is the smallest non-zero TTL view v may have: one cadence, plus its
// allowed lateness, plus TTLMargin.
func MinTTL(v *View) time.Duration {
	return v.Cadence.Duration() + max(v.Lateness, 0) + TTLMargin
}

func (r *Registry) addEntity(e *Entity) error {
	if err := checkName("entity", e.Name); err != nil {
		return err
	}
	if _, dup := r.entities[e.Name]; dup {
		return fmt.Errorf("entity %q registered twice", e.Name)
	}
	if err := checkName("join key of entity "+e.Name, e.JoinKey); err != nil {
		return err
	}
	if reserved[e.JoinKey] {
		return fmt.Errorf("entity %q: join key %q is reserved", e.Name, e.JoinKey)
	}
	if e.KeyType != Int64 && e.KeyType != String {
		return fmt.Errorf("entity %q: key type %s not supported (want int64 or string)", e.Name, e.KeyType)
	}
	// Entity tables, requests and training sets find keys by column name,
	// so one name must mean one type.
	for _, n := range r.order.entities {
		if o := r.entities[n]; o.JoinKey == e.JoinKey && o.KeyType != e.KeyType {
			return fmt.Errorf("entity %q: join key %q is %s, but entity %q already uses %q as a %s key; give one of them another join key name",
				e.Name, e.JoinKey, e.KeyType, o.Name, o.JoinKey, o.KeyType)
		}
	}
	r.entities[e.Name] = e
	r.order.entities = append(r.order.entities, e.Name)
	return nil
}

func (r *Registry) addSource(s *Source) error {
	if err := checkName("source", s.Name); err != nil {
		return err
	}
	if _, dup := r.sources[s.Name]; dup {
		return fmt.Errorf("source %q registered twice", s.Name)
	}
	if s.Path == "" && s.Table == "" {
		return fmt.Errorf("source %q: needs a Path or a Table", s.Name)
	}
	if s.TimestampField == "" {
		return fmt.Errorf("source %q: needs a TimestampField", s.Name)
	}
	seen := map[string]bool{s.TimestampField: true}
	for _, f := range s.Fields {
		if seen[f.Name] {
			return fmt.Errorf("source %q: field %q listed twice", s.Name, f.Name)
		}
		seen[f.Name] = true
		if f.Type == Invalid || f.Type > Bool {
			return fmt.Errorf("source %q: field %q has no valid type", s.Name, f.Name)
		}
	}
	r.sources[s.Name] = s
	r.order.sources = append(r.order.sources, s.Name)
	return nil
}

func (r *Registry) addView(v *View) error {
	if err := checkName("view", v.Name); err != nil {
		return err
	}
	if _, dup := r.views[v.Name]; dup {
		return fmt.Errorf("view %q registered twice", v.Name)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("view %q: %s", v.Name, fmt.Sprintf(format, args...))
	}
	ent, ok := r.entities[v.Entity]
	if !ok {
		return fail("unknown entity %q", v.Entity)
	}
	src, ok := r.sources[v.Source]
	if !ok {
		return fail("unknown source %q", v.Source)
	}
	if f, ok := src.Field(ent.JoinKey); !ok {
		return fail("source %s has no join key column %q", src.Name, ent.JoinKey)
	} else if f.Type != ent.KeyType {
		return fail("source %s column %s is %s, entity %s keys are %s", src.Name, ent.JoinKey, f.Type, ent.Name, ent.KeyType)
	}
	if v.Cadence.Duration() == 0 {
		return fail("cadence %q unknown (want hourly or daily)", v.Cadence)
	}
	if v.TTL < 0 {
		return fail("TTL %s is invalid: want 0 (unlimited) or at least %s", v.TTL, MinTTL(v))
	}
	if v.Lateness < 0 || v.Lateness > 7*24*time.Hour {
		return fail("lateness %s out of range [0, 7d]", v.Lateness)
	}
	if minTTL := MinTTL(v); v.TTL > 0 && v.TTL < minTTL {
		return fail("TTL %s is too short: values would expire before the next run replaces them (cadence %s + lateness %s + margin %s); the smallest valid TTL is %s, or 0 for unlimited",
			v.TTL, v.Cadence.Duration(), v.Lateness, TTLMargin, minTTL)
	}
	if v.TTL%time.Microsecond != 0 {
		return fail("TTL %s is finer than a microsecond", v.TTL)
	}
	if v.Owner == "" || v.Description == "" {
		return fail("needs an owner and a description")
	}
	if v.Shards < 0 || v.Shards > 1024 {
		return fail("shards %d out of range [0, 1024]", v.Shards)
	}
	if len(v.Aggregations) == 0 && v.Func == nil {
		return fail("has no features")
	}
	seen := map[string]bool{ent.JoinKey: true}
	for i := range v.Aggregations {
		a := &v.Aggregations[i]
		if err := checkName("feature", a.Name); err != nil {
			return fail("%v", err)
		}
		if seen[a.Name] || reserved[a.Name] {
			return fail("feature %q defined twice or reserved", a.Name)
		}
		seen[a.Name] = true
		if err := a.resolve(src); err != nil {
			return fail("feature %s: %v", a.Name, err)
		}
	}
	if fn := v.Func; fn != nil {
		if fn.Fn == nil || fn.Version == "" {
			return fail("Func needs Fn and a Version")
		}
		if fn.Lookback < 0 || fn.Lookback > MaxWindow {
			return fail("Func lookback %s out of range [0, 90d]", fn.Lookback)
		}
		for _, c := range fn.Needs {
			if _, ok := src.Field(c); !ok {
				return fail("Func needs column %q, not in source %s", c, src.Name)
			}
		}
		for _, f := range fn.Features {
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
		}
	}
	if v.Fresh != nil {
		if err := checkFresh(v, src); err != nil {
			return fail("%v", err)
		}
	}
	if err := validateChecks(v); err != nil {
		return err
	}
	r.views[v.Name] = v
	r.order.views = append(r.order.views, v.Name)
	r.prints[v.Name] = fingerprint(v, ent, src)
	return nil
}

func (r *Registry) addService(s *Service) error {
	if err := checkName("feature service", s.Name); err != nil {
		return err
	}
	if _, dup := r.services[s.Name]; dup {
		return fmt.Errorf("feature service %q registered twice", s.Name)
	}
	if len(s.Features) == 0 {
		return fmt.Errorf("feature service %q lists no features", s.Name)
	}
	if _, err := r.ResolveRefs(s.Features); err != nil {
		return fmt.Errorf("feature service %q: %w", s.Name, err)
	}
	r.services[s.Name] = s
	r.order.services = append(r.order.services, s.Name)
	return nil
}

// ResolveRefs parses and checks "view:feature" references.
func (r *Registry) ResolveRefs(refs []string) ([]FeatureRef, error) {
	out := make([]FeatureRef, 0, len(refs))
	seen := map[FeatureRef]bool{}
	for _, s := range refs {
		ref, err := ParseRef(s)
		if err != nil {
			return nil, err
		}
		v, ok := r.views[ref.View]
		if !ok {
			return nil, fmt.Errorf("unknown view %q in feature reference %q", ref.View, s)
		}
		if _, ok := v.Feature(ref.Feature); !ok {
			return nil, fmt.Errorf("unknown feature %q in view %s", ref.Feature, ref.View)
		}
		if seen[ref] {
			return nil, fmt.Errorf("feature %q requested twice", s)
		}
		seen[ref] = true
		out = append(out, ref)
	}
	return out, nil
}

// Entity returns the named entity.
func (r *Registry) Entity(name string) (*Entity, bool) { e, ok := r.entities[name]; return e, ok }

// Source returns the named source.
func (r *Registry) Source(name string) (*Source, bool) { s, ok := r.sources[name]; return s, ok }

// View returns the named view.
func (r *Registry) View(name string) (*View, bool) { v, ok := r.views[name]; return v, ok }

// Service returns the named feature service.
func (r *Registry) Service(name string) (*Service, bool) { s, ok := r.services[name]; return s, ok }

// Views returns every view in registration order.
func (r *Registry) Views() []*View {
	out := make([]*View, len(r.order.views))
	for i, n := range r.order.views {
		out[i] = r.views[n]
	}
	return out
}

// Services returns every feature service in registration order.
func (r *Registry) Services() []*Service {
	out := make([]*Service, len(r.order.services))
	for i, n := range r.order.services {
		out[i] = r.services[n]
	}
	return out
}

// EntityOf returns the entity of a registered view.
func (r *Registry) EntityOf(v *View) *Entity { return r.entities[v.Entity] }

// SourceOf returns the source of a registered view.
func (r *Registry) SourceOf(v *View) *Source { return r.sources[v.Source] }

// Fingerprint of a registered view's definition: a hash that changes whenever
// what the view computes does, stored with every value it writes.
func (r *Registry) Fingerprint(view string) string { return r.prints[view] }

func fingerprint(v *View, e *Entity, s *Source) string {
	type agg struct {
		Name, Kind, Column, Where string
		Window                    time.Duration
	}
	def := struct {
		View, Cadence, JoinKey, KeyType, Source, Path, Table, TS string
		TTL                                                      time.Duration
		Aggs                                                     []agg
		Func                                                     []Feature
		FuncVersion                                              string
		FuncLookback                                             time.Duration
		// Out lists the features a value holds, names and types in stored
		// order: a source column's type change changes an aggregation's
		// result type, and so the layout of the values, without changing
		// anything above.
		Out []string
		// Fresh is set for fresh views only, so batch views keep their
		// fingerprints.
		Fresh *Fresh `json:",omitempty"`
	}{View: v.Name, Cadence: string(v.Cadence), JoinKey: e.JoinKey, KeyType: e.KeyType.String(),
		Source: s.Name, Path: s.Path, Table: s.Table, TS: s.TimestampField, TTL: v.TTL}
	for _, a := range v.Aggregations {
		x := agg{Name: a.Name, Kind: string(a.Kind), Column: a.Column, Window: a.Window}
		if a.Where != nil {
			x.Where = a.Where.String()
		}
		def.Aggs = append(def.Aggs, x)
	}
	if v.Func != nil {
		def.Func, def.FuncVersion, def.FuncLookback = v.Func.Features, v.Func.Version, v.Func.Lookback
	}
	for _, f := range v.Features() {
		def.Out = append(def.Out, f.Name+":"+f.Type.String())
	}
	if v.Fresh != nil {
		fr := *v.Fresh
		def.Fresh = &fr
	}
	b, _ := json.Marshal(def)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Catalog is the registry's JSON export (`starter catalog --json`).
type Catalog struct {
	Entities []CatalogEntity  `json:"entities"`
	Views    []CatalogView    `json:"views"`
	Services []CatalogService `json:"services"`
}

type CatalogEntity struct {
	Name        string `json:"name"`
	JoinKey     string `json:"join_key"`
	Type        Type   `json:"type"`
	Description string `json:"description"`
}

type CatalogFeature struct {
	Name        string   `json:"name"`
	Type        Type     `json:"type"`
	Description string   `json:"description"`
	Definition  string   `json:"definition,omitempty"`
	UsedBy      []string `json:"used_by"`
}

type CatalogView struct {
	Name        string            `json:"name"`
	Entity      string            `json:"entity"`
	Cadence     Cadence           `json:"cadence"`
	TTLSeconds  int64             `json:"ttl_seconds"`
	Lateness    int64             `json:"lateness_seconds"`
	Owner       string            `json:"owner"`
	Description string            `json:"description"`
	Tags        map[string]string `json:"tags"`
	Source      string            `json:"source"`
	Fingerprint string            `json:"fingerprint"`
	Features    []CatalogFeature  `json:"features"`
	// Fresh is set for fresh views only (see CatalogFresh).
	Fresh *CatalogFresh `json:"fresh,omitempty"`
}

type CatalogService struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Owner       string   `json:"owner,omitempty"`
	Features    []string `json:"features"`
}

// Catalog exports every definition, with lineage: each feature lists the
// services that use it.
func (r *Registry) Catalog() Catalog {
	if r.published != nil {
		c, _ := cloneCatalog(*r.published) // it was marshalled once already
		return c
	}
	usedBy := map[string][]string{}
	c := Catalog{Entities: []CatalogEntity{}, Views: []CatalogView{}, Services: []CatalogService{}}
	for _, s := range r.Services() {
		for _, f := range s.Features {
			usedBy[f] = append(usedBy[f], s.Name)
		}
		c.Services = append(c.Services, CatalogService{Name: s.Name, Description: s.Description, Owner: s.Owner, Features: append([]string{}, s.Features...)})
	}
	for _, n := range r.order.entities {
		e := r.entities[n]
		c.Entities = append(c.Entities, CatalogEntity{Name: e.Name, JoinKey: e.JoinKey, Type: e.KeyType, Description: e.Description})
	}
	for _, v := range r.Views() {
		tags := map[string]string{}
		for k, val := range v.Tags {
			tags[k] = val
		}
		cv := CatalogView{Name: v.Name, Entity: v.Entity, Cadence: v.Cadence, TTLSeconds: int64(v.TTL / time.Second),
			Lateness: int64(v.Lateness / time.Second), Owner: v.Owner, Description: v.Description, Tags: tags,
			Source: v.Source, Fingerprint: r.prints[v.Name], Fresh: catalogFresh(v)}
		defs := map[string]string{}
		for _, a := range v.Aggregations {
			d := fmt.Sprintf("%s(%s) over %s", a.Kind, a.Column, a.Window)
			if a.Kind == Count {
				d = fmt.Sprintf("count over %s", a.Window)
			}
			if a.Where != nil {
				d += " where " + a.Where.String()
			}
			defs[a.Name] = d
		}
		for _, f := range v.Features() {
			users := usedBy[v.Name+":"+f.Name]
			sort.Strings(users)
			if users == nil {
				users = []string{}
			}
			def := defs[f.Name]
			if def == "" && v.Func != nil {
				def = "go func " + v.Func.Version
			}
			cv.Features = append(cv.Features, CatalogFeature{Name: f.Name, Type: f.Type, Description: f.Description, Definition: def, UsedBy: users})
		}
		c.Views = append(c.Views, cv)
	}
	return c
}
