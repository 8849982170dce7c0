package catalog

import (
	"strings"
)

// Results are the catalog entries matching a search.
type Results struct {
	Views    []*View
	Features []*Feature
	Services []*Service
}

// Search returns the views, features and services whose name, description,
// definition, owner or tags contain every word of q (case-insensitive). An
// empty q matches everything.
func (c *Catalog) Search(q string) Results {
	words := strings.Fields(strings.ToLower(q))
	match := func(texts ...string) bool {
		hay := strings.ToLower(strings.Join(texts, "\n"))
		for _, w := range words {
			if !strings.Contains(hay, w) {
				return false
			}
		}
		return true
	}
	var r Results
	for _, v := range c.Views {
		if match(v.SearchText()) {
			r.Views = append(r.Views, v)
		}
		for _, f := range v.Features {
			if match(f.SearchText()) {
				r.Features = append(r.Features, f)
			}
		}
	}
	for _, s := range c.Services {
		if match(s.SearchText()) {
			r.Services = append(r.Services, s)
		}
	}
	return r
}

// SearchText is what a search looks at for a view.
func (v *View) SearchText() string {
	return strings.Join([]string{v.Name, v.Description, v.Owner, v.Entity, v.Source, tagText(v.Tags)}, " ")
}

// SearchText is what a search looks at for a feature: its names,
// description and definition, and its view's owner and tags.
func (f *Feature) SearchText() string {
	return strings.Join([]string{f.Ref, f.Description, f.InWords, f.Type.String(), f.view.Owner, tagText(f.view.Tags)}, " ")
}

// SearchText is what a search looks at for a service.
func (s *Service) SearchText() string {
	return strings.Join(append([]string{s.Name, s.Description, s.Owner}, s.Features...), " ")
}

func tagText(tags map[string]string) string {
	var b strings.Builder
	for k, v := range tags {
		b.WriteString(k + "=" + v + " ")
	}
	return b.String()
}
