package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/trainingset"
	"github.com/skewfree/skewfree/workflows"
)

// gatedOnline holds every online write while the gate is closed and says
// when the first one arrived: the test then samples serving while a run's
// version is written offline (created) but not yet online (published).
type gatedOnline struct {
	activities.Online
	mu      sync.Mutex
	gate    chan struct{} // nil: open
	arrived chan struct{}
	once    *sync.Once
}

func (g *gatedOnline) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate, g.arrived, g.once = make(chan struct{}), make(chan struct{}), new(sync.Once)
}

func (g *gatedOnline) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
}

func (g *gatedOnline) Write(ctx context.Context, view string, f *features.Frame) (activities.OnlineStats, error) {
	g.mu.Lock()
	gate, arrived, once := g.gate, g.arrived, g.once
	g.mu.Unlock()
	if gate != nil {
		once.Do(func() { close(arrived) })
		select {
		case <-gate:
		case <-ctx.Done():
			return activities.OnlineStats{}, ctx.Err()
		}
	}
	return g.Online.Write(ctx, view, f)
}

// TestAsKnownAtReproducesServedValues is the promise, end to end: values
// the reader served at instants between and during scheduled runs and
// re-run corrections equal, per key and feature, a training set built
// --as-known-at for those instants. Each run goes through the embedded
// Temporal server, the real offline store and a real redis-server.
func TestAsKnownAtReproducesServedValues(t *testing.T) {
	s := newProjectStack(t, "exact", "")
	ctx := context.Background()
	gated := &gatedOnline{}
	w := s.worker(func(a *activities.Activities) { gated.Online = a.Online; a.Online = gated })
	defer w.Stop()
	defer gated.open() // before w.Stop: a held push would hold the stop

	ua, _ := s.reg.View("user_activity") // hourly, no lateness, TTL 6h
	uo, _ := s.reg.View("user_orders")   // daily, 2h lateness, TTL 2d
	h2 := time.Now().UTC().Truncate(time.Hour)
	h1 := h2.Add(-time.Hour)
	d1 := s.today.Add(-24 * time.Hour) // past its lateness at any hour
	var refs []string
	var frefs []features.FeatureRef
	for _, v := range []*features.View{ua, uo} {
		for _, f := range v.Features() {
			refs = append(refs, v.Name+":"+f.Name)
			frefs = append(frefs, features.FeatureRef{View: v.Name, Feature: f.Name})
		}
	}
	// Every user the generator knows, plus one that never had an event.
	var keys []features.Value
	for i := range 120 {
		keys = append(keys, features.StringValue(demo.UserID(i)))
	}
	keys = append(keys, features.StringValue("nobody"))

	type sample struct {
		at   time.Time
		what string
		res  *serving.Result
	}
	var samples []sample
	serve := func(what string) {
		t.Helper()
		at := time.Now().UTC().Truncate(time.Microsecond)
		r, err := serving.New(s.reg, s.stores.Online, serving.Options{Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		res, err := r.Get(ctx, refs, serving.Entities{"user_id": keys})
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, sample{at, what, res})
		time.Sleep(2 * time.Millisecond) // distinct instants
	}
	start := func(v *features.View, end time.Time) client.WorkflowRun {
		t.Helper()
		run, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: s.project.MaterializeID(v.Name, end), TaskQueue: s.project.TaskQueue(),
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		}, workflows.MaterializeWorkflow, s.project.InputFor(v, end))
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	materialize := func(v *features.View, end time.Time) workflows.MaterializeResult {
		t.Helper()
		var res workflows.MaterializeResult
		if err := start(v, end).Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		if res.Published.IsZero() || res.Rows == 0 {
			t.Fatalf("%s %s: %+v", v.Name, end, res)
		}
		return res
	}
	rng := rand.New(rand.NewPCG(7, 7))
	// late appends events to a source inside [end-window, end): a
	// correction that a re-run of the window picks up.
	late := func(src string, end time.Time, n int) {
		t.Helper()
		source, _ := s.reg.Source(src)
		f := &features.Frame{}
		for _, fl := range source.Fields {
			f.Columns = append(f.Columns, features.NewColumn(fl.Name, fl.Type, 0))
		}
		for range n {
			f.Time = append(f.Time, features.Micros(end.Add(-time.Duration(1+rng.IntN(50))*time.Minute)))
			for _, c := range f.Columns {
				var v features.Value
				switch c.Name {
				case "user_id":
					v = features.StringValue(demo.UserID(rng.IntN(120)))
				case "status":
					v = features.StringValue("returned")
				case "device":
					v = features.StringValue("mobile")
				default:
					switch c.Type {
					case features.Int64:
						v = features.IntValue(int64(1 + rng.IntN(20)))
					case features.Float64:
						v = features.FloatValue(float64(1 + rng.IntN(500)))
					case features.String:
						v = features.StringValue("late")
					case features.Bool:
						v = features.BoolValue(true)
					}
				}
				if err := c.Append(v); err != nil {
					t.Fatal(err)
				}
			}
		}
		day := end.Add(-time.Minute).UTC().Format(time.DateOnly)
		path := filepath.Join(s.sourceRoot(), source.Path, "date="+day, fmt.Sprintf("late-%d.parquet", rng.Int()))
		if err := parquet.WriteFileAtomic(path, func(w *os.File) error {
			return parquet.WriteFrame(w, f, source.TimestampField, nil)
		}); err != nil {
			t.Fatal(err)
		}
	}

	serve("before any run")
	materialize(ua, h1)
	materialize(uo, d1)
	serve("after the first runs")
	materialize(ua, h2)
	serve("after the newer hourly window")

	// A correction of the newest window, sampled while its version is
	// written offline but its push is held: serving still has the first
	// run's values, so the training set must too.
	late("page_views", h2, 40)
	gated.close()
	run := start(ua, h2)
	select {
	case <-gated.arrived:
	case <-time.After(2 * time.Minute):
		t.Fatal("the correction run's push never arrived")
	}
	serve("correction written, not yet online")
	gated.open()
	var corr workflows.MaterializeResult
	if err := run.Get(ctx, &corr); err != nil {
		t.Fatal(err)
	}
	serve("after the correction of the newest window")

	// A correction of an older window: online keeps the newer window.
	late("page_views", h1, 40)
	materialize(ua, h1)
	serve("after the correction of an older window")
	late("orders", d1, 30)
	materialize(uo, d1)
	serve("after the correction of the daily window")

	// The training set at the sampled instants.
	key := features.NewColumn("user_id", features.String, 0)
	ent := &features.Frame{Key: key}
	for _, sm := range samples {
		for _, k := range keys {
			_ = key.Append(k)
			ent.Time = append(ent.Time, features.Micros(sm.at))
		}
	}
	dir := t.TempDir()
	entities, out := filepath.Join(dir, "entities.parquet"), filepath.Join(dir, "train.parquet")
	if err := parquet.WriteFileAtomic(entities, func(w *os.File) error {
		return parquet.WriteFrame(w, ent, trainingset.EntityColumn, nil)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := trainingset.Build(ctx, s.reg, s.stores.Offline, trainingset.Options{
		Entities: entities, Features: frefs, Out: out, AsKnownAt: true}); err != nil {
		t.Fatal(err)
	}
	spec := parquet.FrameSpec{Key: "user_id", KeyType: features.String, Time: trainingset.EntityColumn}
	for _, r := range frefs {
		v, _ := s.reg.View(r.View)
		for _, f := range v.Features() {
			if f.Name == r.Feature {
				spec.Columns = append(spec.Columns, features.Field{Name: r.View + "__" + r.Feature, Type: f.Type})
			}
		}
	}
	train, err := parquet.ReadFile(out, spec)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != len(samples)*len(keys) {
		t.Fatalf("training set has %d rows, want %d", train.Len(), len(samples)*len(keys))
	}

	diffs, present := 0, map[string]int{}
	for si, sm := range samples {
		for ki, k := range keys {
			row := si*len(keys) + ki
			for j, c := range train.Columns {
				got := sm.res.Rows[ki][j]
				off := c.Value(row)
				same := off.IsNull() && got.Status != serving.Present ||
					got.Status == serving.Present && off.Equal(got.Value)
				if got.Status == serving.Present {
					present[sm.what]++
				}
				if !same {
					diffs++
					if diffs <= 10 {
						t.Errorf("%s (T=%s), %s %s: served %s (%s), training set %s", sm.what, sm.at.Format(time.RFC3339Nano), k, c.Name, got.Value, got.Status, off)
					}
				}
			}
		}
	}
	t.Logf("%d instants × %d keys × %d features: %d differences; present values per instant %v", len(samples), len(keys), len(refs), diffs, present)
	if diffs != 0 {
		t.Fatalf("%d differences between served values and the --as-known-at training set", diffs)
	}
	// The comparison means something: serving went from nothing to values,
	// and the corrections changed what was served.
	if present["before any run"] != 0 || present["after the first runs"] == 0 {
		t.Fatalf("present values per instant %v", present)
	}
	changed := func(a, b int) bool {
		for i := range keys {
			for j := range refs {
				if !samples[a].res.Rows[i][j].Value.Equal(samples[b].res.Rows[i][j].Value) {
					return true
				}
			}
		}
		return false
	}
	if changed(2, 3) {
		t.Fatal("serving changed while the correction's push was held: the gate did not hold")
	}
	if !changed(3, 4) || !changed(5, 6) {
		t.Fatal("a correction changed no served value: the test proves nothing about versions")
	}
	// Online keeps the newer window where it has one: the older window's
	// correction shows only for keys without a row in the newer window.
	for i := range keys {
		for j, r := range frefs {
			a, b := samples[4].res.Rows[i][j], samples[5].res.Rows[i][j]
			if r.View == ua.Name && a.Status == serving.Present && a.EventTime.Equal(h2) && (!b.Value.Equal(a.Value) || !b.EventTime.Equal(h2)) {
				t.Fatalf("%s %s: the correction of an older window replaced the newer window's value %s with %s", keys[i], r.Feature, a.Value, b.Value)
			}
		}
	}
}
