package catalog

import (
	"time"

	"github.com/skewfree/skewfree/features"
)

// DeclaredCheck is one data-quality check a view declares (View.Checks in
// the registry), with its result in the newest window whose run ran it.
type DeclaredCheck struct {
	// Check is the declaration in words (features.Check.String), e.g.
	// `max_null_rate 0.05 on feature "spend_30d"`.
	Check string `json:"check"`
	// Kind is the check's kind, e.g. "max_null_rate".
	Kind string `json:"kind"`
	// Feature is empty for view-level checks (min_rows, max_row_count_change).
	Feature string `json:"feature,omitempty"`
	// Latest is the check's result in the newest window with check results;
	// nil when no recorded run ran it.
	Latest *features.CheckResult `json:"latest,omitempty"`
	// LatestWindowEnd is that window's end.
	LatestWindowEnd *time.Time `json:"latest_window_end,omitempty"`
}

// CheckPolicy is a view's OnCheckFailure policy as the catalog shows it.
type CheckPolicy struct {
	// Offline is what a failing run keeps offline: "flagged" (the version
	// is written and its run record says so) or "discarded" (nothing).
	Offline string `json:"offline"`
	// Online is what it does online: "skipped" (serving keeps the previous
	// values) or "pushed" (the flagged version is pushed and published).
	Online string `json:"online"`
	// Words is the policy in a sentence.
	Words string `json:"words"`
}

// PolicyOf describes a view's check-failure policy.
func PolicyOf(p features.CheckPolicy) CheckPolicy {
	out := CheckPolicy{Offline: "flagged", Online: "skipped"}
	if p.DiscardOffline {
		out.Offline = "discarded"
	}
	if p.PushOnline {
		out.Online = "pushed"
	}
	switch {
	case p.DiscardOffline:
		out.Words = "a failing run writes nothing offline (status failed) and pushes nothing online"
	case p.PushOnline:
		out.Words = "a failing run keeps its version offline (status flagged) and still pushes it online"
	default:
		out.Words = "a failing run keeps its version offline (status flagged) and skips the online push: serving keeps the previous values"
	}
	return out
}

// declaredChecks lists v's checks, each with its result in the newest of
// runs (newest first) that holds check results.
func declaredChecks(v *features.View, runs []Run) []DeclaredCheck {
	out := make([]DeclaredCheck, 0, len(v.Checks))
	var latest *Run
	for i := range runs {
		if len(runs[i].Checks) > 0 {
			latest = &runs[i]
			break
		}
	}
	for i, c := range v.Checks {
		d := DeclaredCheck{Check: c.String(), Kind: string(c.Kind), Feature: c.Feature}
		if latest != nil {
			if r, ok := resultOf(latest.Checks, i, c); ok {
				d.Latest = &r
				end := latest.WindowEnd
				d.LatestWindowEnd = &end
			}
		}
		out = append(out, d)
	}
	return out
}

// resultOf finds check i (c) among a run's results: results follow the
// view's declaration order (features.RunChecks), so the i-th result is
// check i when kind and feature agree; otherwise (the declarations changed
// since the run) the first result of the same kind and feature, if any.
func resultOf(rs []features.CheckResult, i int, c features.Check) (features.CheckResult, bool) {
	same := func(r features.CheckResult) bool { return r.Check == string(c.Kind) && r.Feature == c.Feature }
	if i < len(rs) && same(rs[i]) {
		return rs[i], true
	}
	for _, r := range rs {
		if same(r) {
			return r, true
		}
	}
	return features.CheckResult{}, false
}

// ChecksOn are the view's declared checks on feature name, plus the
// view-level ones.
func (v *View) ChecksOn(name string) []DeclaredCheck {
	var out []DeclaredCheck
	for _, c := range v.Checks {
		if c.Feature == "" || c.Feature == name {
			out = append(out, c)
		}
	}
	return out
}

// Checks are the declared checks on the feature, plus the view-level ones.
func (f *Feature) Checks() []DeclaredCheck { return f.view.ChecksOn(f.Name) }
