package catalog

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/skewfree/skewfree/features"
)

// TagList is the view's tags as sorted "key=value" strings.
func (v *View) TagList() []string {
	out := make([]string, 0, len(v.Tags))
	for k, val := range v.Tags {
		out = append(out, k+"="+val)
	}
	sort.Strings(out)
	return out
}

// TTL is the view's TTL as a duration.
func (v *View) TTL() time.Duration { return time.Duration(v.TTLSeconds) * time.Second }

// LatenessDuration is the view's allowed lateness.
func (v *View) LatenessDuration() time.Duration { return time.Duration(v.Lateness) * time.Second }

// WriteTable prints the catalog for a terminal: entities, views (schedule,
// TTL, owner, freshness), features (definition in words, users) and services.
func WriteTable(w io.Writer, c *Catalog) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tJOIN KEY\tTYPE\tDESCRIPTION")
	for _, e := range c.Entities {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.JoinKey, e.Type, oneLine(e.Description))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "VIEW\tENTITY\tSCHEDULE\tTTL\tOWNER\tFRESHNESS")
	for _, v := range c.Views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.Entity, v.Schedule, TTLWords(v.TTL()), v.Owner, v.Freshness.Words())
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "FEATURE\tTYPE\tUSED BY\tDESCRIPTION")
	for _, f := range c.Features() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Ref, f.Type, list(f.UsedBy), oneLine(f.Description))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "SERVICE\tFEATURES\tOWNER\tDESCRIPTION")
	for _, s := range c.Services {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Name, len(s.Features), dash(s.Owner), oneLine(s.Description))
	}
	return tw.Flush()
}

// DescribeView prints one view: definition, owner, tags, lineage,
// freshness, its features in words and its last runs with their checks.
func DescribeView(w io.Writer, v *View, runs int) error {
	fmt.Fprintf(w, "view %s\n  %s\n\n", v.Name, oneLine(v.Description))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	field := func(k, val string) { fmt.Fprintf(tw, "  %s\t%s\n", k, val) }
	field("entity", fmt.Sprintf("%s (join key %s)", v.Lineage.Entity, v.Lineage.JoinKey))
	field("source", v.Lineage.Source+sep(v.Lineage.SourceDescription))
	field("schedule", v.Schedule)
	field("TTL", TTLWords(v.TTL()))
	field("owner", v.Owner)
	field("tags", list(v.TagList()))
	field("fingerprint", v.Fingerprint)
	field("used by", list(v.Lineage.Services))
	field("freshness", v.Freshness.Words())
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nfeatures (per "+v.Entity+", "+v.Schedule+")")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tTYPE\tUSED BY\tCOMPUTES")
	for _, f := range v.Features {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", f.Name, f.Type, list(f.UsedBy), f.Computation())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeDeclaredChecks(w, v, v.Checks); err != nil {
		return err
	}
	return writeRuns(w, v, "", runs)
}

// DescribeFeature prints one feature: description, definition in words,
// its view's schedule, TTL, owner and tags, who uses it, freshness, and its
// column's profile and checks over the last runs.
func DescribeFeature(w io.Writer, f *Feature, runs int) error {
	v := f.Parent()
	fmt.Fprintf(w, "feature %s\n  %s\n\n", f.Ref, oneLine(f.Description))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	field := func(k, val string) { fmt.Fprintf(tw, "  %s\t%s\n", k, val) }
	field("definition", f.InWords)
	field("type", f.Type.String())
	field("view", v.Name+" (entity "+v.Lineage.Entity+", source "+v.Lineage.Source+")")
	field("schedule", v.Schedule)
	field("TTL", TTLWords(v.TTL()))
	field("owner", v.Owner)
	field("tags", list(v.TagList()))
	field("used by", list(f.UsedBy))
	field("freshness", v.Freshness.Words())
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeDeclaredChecks(w, v, f.Checks()); err != nil {
		return err
	}
	return writeRuns(w, v, f.Name, runs)
}

// writeDeclaredChecks prints the declared checks (of the view, or those on
// one feature and the view-level ones) with their latest results, and the
// view's check-failure policy.
func writeDeclaredChecks(w io.Writer, v *View, checks []DeclaredCheck) error {
	if len(checks) == 0 {
		fmt.Fprintln(w, "\nchecks: none declared")
		return nil
	}
	fmt.Fprintln(w, "\nchecks (on failure: "+v.OnCheckFailure.Words+")")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  DECLARED\tLATEST RESULT")
	for _, c := range checks {
		latest := "not run yet"
		if c.Latest != nil {
			latest = CheckWords(*c.Latest) + ", window ending " + Time(*c.LatestWindowEnd)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", c.Check, latest)
	}
	return tw.Flush()
}

// DescribeService prints one feature service: its features in words and the
// freshness of the views it reads.
func DescribeService(w io.Writer, c *Catalog, s *Service) error {
	fmt.Fprintf(w, "service %s\n  %s\n\n", s.Name, oneLine(s.Description))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  owner\t%s\n", dash(s.Owner))
	fmt.Fprintf(tw, "  views\t%s\n", list(s.Views))
	if len(s.StaleViews) > 0 {
		fmt.Fprintf(tw, "  stale\t%s\n", list(s.StaleViews))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nfeatures")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, ref := range s.Features {
		f, err := c.Feature(ref)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.Ref, f.Type, f.InWords)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nviews")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, vn := range s.Views {
		v, err := c.View(vn)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, v.Schedule, v.Freshness.Words())
	}
	return tw.Flush()
}

// writeRuns prints the view's last n runs; with feature set, that feature's
// rows, null rate and mean, and only the checks on it (or on the whole view).
func writeRuns(w io.Writer, v *View, feature string, n int) error {
	runs := v.Runs
	if n > 0 && len(runs) > n {
		runs = runs[:n]
	}
	if len(runs) == 0 {
		fmt.Fprintln(w, "\nlast runs: none recorded")
		return nil
	}
	fmt.Fprintln(w, "\nlast runs")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if feature == "" {
		fmt.Fprintln(tw, "  WINDOW END\tSTATUS\tROWS\tVERSIONS\tPUBLISHED\tCHECKS")
	} else {
		fmt.Fprintln(tw, "  WINDOW END\tSTATUS\tROWS\tNULL RATE\tMEAN\tPUBLISHED\tCHECKS")
	}
	var failed []string
	for _, r := range runs {
		pub := "not yet"
		if r.Published != nil {
			pub = Time(*r.Published)
		}
		checks := RunChecks(r, feature)
		summary := "-"
		if len(checks) > 0 {
			bad := 0
			for _, c := range checks {
				if !c.Passed {
					bad++
					failed = append(failed, fmt.Sprintf("  %s  %s", Time(r.WindowEnd), CheckWords(c)))
				}
			}
			summary = fmt.Sprintf("%d/%d passed", len(checks)-bad, len(checks))
		}
		if feature == "" {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\t%s\n", Time(r.WindowEnd), r.Status, r.Rows, r.Versions, pub, summary)
			continue
		}
		fr, ok := r.Features[feature]
		rate, mean := "-", "-"
		if ok {
			rate = fmt.Sprintf("%.1f%%", 100*fr.NullRate())
			if fr.Mean != nil {
				mean = fmt.Sprintf("%.4g", *fr.Mean)
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\t%s\n", Time(r.WindowEnd), r.Status, r.Rows, rate, mean, pub, summary)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(failed) > 0 {
		fmt.Fprintln(w, "\nfailed checks")
		for _, f := range failed {
			fmt.Fprintln(w, f)
		}
	}
	return nil
}

// RunChecks are the run's checks on feature, plus the view-level ones; all
// of them when feature is empty.
func RunChecks(r Run, feature string) []features.CheckResult {
	var out []features.CheckResult
	for _, c := range r.Checks {
		if feature == "" || c.Feature == "" || c.Feature == feature {
			out = append(out, c)
		}
	}
	return out
}

// CheckWords is one check result in a line: "FAILED max_null_rate on
// spend_30d: 0.42 > bound 0.1 (message)".
func CheckWords(c features.CheckResult) string {
	verdict := "passed"
	if !c.Passed {
		verdict = "FAILED"
	}
	s := verdict + " " + c.Check
	if c.Feature != "" {
		s += " on " + c.Feature
	}
	s += fmt.Sprintf(": value %.4g, bound %.4g", c.Value, c.Bound)
	if c.Message != "" {
		s += " (" + oneLine(c.Message) + ")"
	}
	return s
}

func list(xs []string) string {
	if len(xs) == 0 {
		return "-"
	}
	return strings.Join(xs, ", ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sep(s string) string {
	if s == "" {
		return ""
	}
	return ": " + oneLine(s)
}

// oneLine keeps registry text from breaking a table's rows.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
