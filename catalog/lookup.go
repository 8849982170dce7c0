package catalog

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// NotFoundError is a name the catalog does not have, with the closest names
// it does have.
type NotFoundError struct {
	Kind    string // "view", "feature", "service"
	Name    string
	Closest []string
	// Ambiguous is set when a bare feature name belongs to several views:
	// Closest then lists its "view:feature" references.
	Ambiguous bool
}

func (e *NotFoundError) Error() string {
	if e.Ambiguous {
		return fmt.Sprintf("feature %q is in several views: %s; name one as view:feature", e.Name, strings.Join(e.Closest, ", "))
	}
	msg := fmt.Sprintf("unknown %s %q", e.Kind, e.Name)
	if len(e.Closest) > 0 {
		msg += "; closest: " + strings.Join(e.Closest, ", ")
	}
	return msg
}

// IsNotFound reports whether err is (or wraps) a *NotFoundError.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

// View returns the named view, or a *NotFoundError naming the closest views.
func (c *Catalog) View(name string) (*View, error) {
	if v, ok := c.views[name]; ok {
		return v, nil
	}
	names := make([]string, len(c.Views))
	for i, v := range c.Views {
		names[i] = v.Name
	}
	return nil, &NotFoundError{Kind: "view", Name: name, Closest: Closest(name, names, 3)}
}

// Service returns the named feature service, or a *NotFoundError.
func (c *Catalog) Service(name string) (*Service, error) {
	if s, ok := c.services[name]; ok {
		return s, nil
	}
	names := make([]string, len(c.Services))
	for i, s := range c.Services {
		names[i] = s.Name
	}
	return nil, &NotFoundError{Kind: "service", Name: name, Closest: Closest(name, names, 3)}
}

// Feature returns a feature by "view:feature", or by its bare name when
// exactly one view has a feature of that name. Otherwise the error is a
// *NotFoundError with the closest references.
func (c *Catalog) Feature(name string) (*Feature, error) {
	all := c.Features()
	refs := make([]string, len(all))
	for i, f := range all {
		refs[i] = f.Ref
	}
	if strings.Contains(name, ":") {
		for _, f := range all {
			if f.Ref == name {
				return f, nil
			}
		}
		return nil, &NotFoundError{Kind: "feature", Name: name, Closest: Closest(name, refs, 3)}
	}
	var found []*Feature
	for _, f := range all {
		if f.Name == name {
			found = append(found, f)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		// Compare with bare names, answer with references.
		bare := map[string][]string{}
		var names []string
		for _, f := range all {
			if _, ok := bare[f.Name]; !ok {
				names = append(names, f.Name)
			}
			bare[f.Name] = append(bare[f.Name], f.Ref)
		}
		var closest []string
		for _, n := range Closest(name, names, 3) {
			closest = append(closest, bare[n]...)
		}
		return nil, &NotFoundError{Kind: "feature", Name: name, Closest: closest}
	}
	amb := make([]string, len(found))
	for i, f := range found {
		amb[i] = f.Ref
	}
	return nil, &NotFoundError{Kind: "feature", Name: name, Closest: amb, Ambiguous: true}
}

// Closest returns up to n of candidates nearest to name: those containing
// it (or contained in it) first, then by edit distance, ties by name.
// Candidates further than half their length away are left out unless
// nothing is closer, so a typo finds its name and nonsense still gets an
// answer.
func Closest(name string, candidates []string, n int) []string {
	type scored struct {
		s    string
		dist int
	}
	lower := strings.ToLower(name)
	var all []scored
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := levenshtein(lower, lc)
		if lower != "" && (strings.Contains(lc, lower) || strings.Contains(lower, lc)) {
			d = min(d, 1) // a substring match is as good as one typo
		}
		all = append(all, scored{c, d})
	}
	slices.SortStableFunc(all, func(a, b scored) int {
		if a.dist != b.dist {
			return a.dist - b.dist
		}
		return strings.Compare(a.s, b.s)
	})
	var out []string
	for _, s := range all {
		if len(out) == n {
			break
		}
		if len(out) > 0 && s.dist > max(2, len([]rune(s.s))/2) {
			break
		}
		out = append(out, s.s)
	}
	return out
}

// levenshtein is the edit distance between a and b (insertions, deletions,
// substitutions of runes), in O(len(b)) space.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
