// Package e2e runs Skewfree end to end against a real, embedded Temporal
// server (devserver: the same code `make dev` runs) and a real redis-server.
// It is the only test package that links the Temporal server: linking it
// costs seconds and gigabytes per test binary.
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/cli"
	"github.com/skewfree/skewfree/devserver"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/pipeline"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/workflows"
)

var temporalSrv *devserver.Server

func TestMain(m *testing.M) {
	ctx := context.Background()
	var err error
	temporalSrv, err = devserver.Start(ctx, devserver.Options{
		SearchAttributes: app.SearchAttributes(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: embedded Temporal server:", err)
		os.Exit(1)
	}
	code := m.Run()
	temporalSrv.Stop()
	os.Exit(code)
}

// stack is one test's world: its own data folders, Redis, stores and
// Temporal client (the server is shared; ids are per view and window, so
// tests use different views or time ranges).
type stack struct {
	t      *testing.T
	reg    *features.Registry
	stores *app.Stores
	client client.Client
	today  time.Time
	// redisURL is the test's own redis-server.
	redisURL string
	// project is the stack's project ("" the default).
	project workflows.Project
}

func newStack(t *testing.T) *stack {
	t.Helper()
	return newProjectStack(t, "", "")
}

// newProjectStack is newStack for a project, on redisURL ("": its own
// redis-server).
func newProjectStack(t *testing.T, project, redisURL string) *stack {
	t.Helper()
	if redisURL == "" {
		redisURL = "redis://" + testenv.StartRedis(t).Addr
	}
	dir := t.TempDir()
	// The batch views: the fresh view (user_live) is fed by pushes, and
	// fresh_test.go covers it end to end.
	reg := registryWithout(t, demo.Registry(), "user_live")
	// Data runs to the end of today (UTC): the newest windows the tests
	// compute are recent enough for their TTLs, so the online store keeps
	// them. Windows themselves always come from arguments, never the clock.
	today := time.Now().UTC().Truncate(24 * time.Hour)
	frames, err := demo.Generate(demo.GenOptions{Users: 120, Products: 30, Days: 7, Start: today.Add(-6 * 24 * time.Hour), Seed: 42,
		ViewsPerUserDay: 6, OrdersPerUserDay: 0.8})
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.Config{
		TemporalAddress: temporalSrv.FrontendAddr(), Namespace: temporalSrv.Namespace(),
		RedisURL: redisURL, Offline: "file://" + filepath.Join(dir, "offline"), Source: "file://" + filepath.Join(dir, "raw"),
		Logger: slog.New(slog.DiscardHandler), Project: project,
	}
	ctx := context.Background()
	stores, err := app.OpenStores(ctx, reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stores.Close() })
	for name, fr := range frames {
		src, _ := reg.Source(name)
		if _, err := stores.Sources.Write(ctx, src, fr); err != nil {
			t.Fatal(err)
		}
	}
	c, err := app.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &stack{t: t, reg: reg, stores: stores, client: c, today: today, redisURL: cfg.RedisURL, project: workflows.Project(project)}
}

// worker starts a worker whose activities may be wrapped.
func (s *stack) worker(wrap func(*activities.Activities)) worker.Worker {
	acts := app.Activities(s.reg, s.stores, slog.New(slog.DiscardHandler))
	if wrap != nil {
		wrap(acts)
	}
	w := worker.New(s.client, s.project.TaskQueue(), worker.Options{WorkerStopTimeout: 30 * time.Second})
	app.Register(w, acts)
	if err := w.Start(); err != nil {
		s.t.Fatal(err)
	}
	return w
}

func (s *stack) backfill(view string, from, to time.Time, concurrency int) client.WorkflowRun {
	s.t.Helper()
	v, _ := s.reg.View(view)
	in := workflows.BackfillInputFor(s.project.InputFor(v, time.Time{}), from, to, concurrency)
	run, err := s.client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: s.project.BackfillID(view, from, to), TaskQueue: s.project.TaskQueue(),
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, workflows.BackfillWorkflow, in)
	if err != nil {
		s.t.Fatal(err)
	}
	return run
}

// expectWindows checks that the view's offline files are versions of
// exactly these window ends, that every window's newest version holds
// exactly the rows the transform computes for it, and that it is published.
func (s *stack) expectWindows(view string, ends []time.Time) {
	s.t.Helper()
	ctx := context.Background()
	files, err := s.stores.Offline.ViewFiles(ctx, view, time.Time{}, time.Time{})
	if err != nil {
		s.t.Fatal(err)
	}
	want := map[time.Time]bool{}
	for _, e := range ends {
		want[e] = true
	}
	for _, f := range files {
		if n, ok := parquet.ParseFileName(filepath.Base(f)); !ok || !n.Versioned() || !want[n.WindowEnd] {
			s.t.Fatalf("%s: unexpected file %s (windows %v)", view, f, ends)
		}
	}
	for _, e := range ends {
		fr, err := pipeline.ComputeWindow(ctx, s.reg, s.stores.Sources, view, e, e)
		if err != nil {
			s.t.Fatal(err)
		}
		vs, err := s.stores.Offline.WindowVersions(ctx, view, e)
		if err != nil || len(vs) == 0 {
			s.t.Fatalf("%s window %s: versions %+v %v", view, e.Format(time.RFC3339), vs, err)
		}
		newest := vs[len(vs)-1]
		if n := newest.Rows; n != int64(fr.Len()) || n == 0 || newest.Published.IsZero() {
			s.t.Errorf("%s window %s: newest version %+v, the transform computes %d rows", view, e.Format(time.RFC3339), newest, fr.Len())
		}
	}
}

// readWindow reads a window's offline rows: the newest version per key.
func (s *stack) readWindow(view string, end time.Time) *features.Frame {
	s.t.Helper()
	v, _ := s.reg.View(view)
	ent := s.reg.EntityOf(v)
	out, err := s.stores.Offline.ReadWindow(context.Background(), view, end, parquet.HistorySpec(ent, v.Features()))
	if err != nil || out == nil {
		s.t.Fatalf("read %s window %s: %v", view, end, err)
	}
	return out
}

// expectOnlineEqualsOffline reads every entity of the newest window through
// the serving library and compares each feature with the offline row.
func (s *stack) expectOnlineEqualsOffline(view string, newest time.Time) {
	s.t.Helper()
	v, _ := s.reg.View(view)
	off := s.readWindow(view, newest)
	r, err := serving.New(s.reg, s.stores.Online, serving.Options{Now: func() time.Time { return newest.Add(time.Hour) }})
	if err != nil {
		s.t.Fatal(err)
	}
	defer r.Close()
	var refs []string
	for _, f := range v.Features() {
		refs = append(refs, view+":"+f.Name)
	}
	keys := make([]features.Value, off.Len())
	for i := range keys {
		keys[i] = off.Key.Value(i)
	}
	res, err := r.Get(context.Background(), refs, serving.Entities{s.reg.EntityOf(v).JoinKey: keys})
	if err != nil {
		s.t.Fatal(err)
	}
	for i := range keys {
		for j, c := range off.Columns {
			got := res.Rows[i][j]
			if got.Status != serving.Present || !got.Value.Equal(c.Value(i)) || !got.EventTime.Equal(newest) {
				s.t.Fatalf("%s %s %s: online %s (%s at %s), offline %s at %s", view, keys[i], c.Name, got.Value, got.Status, got.EventTime, c.Value(i), newest)
			}
		}
	}
}

func TestBackfillRerunRetryAndOnlineParity(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	// The first push fails once: Temporal retries the activity.
	var failed atomic.Int32
	w := s.worker(func(a *activities.Activities) { a.Online = &flakyOnline{Online: a.Online, failures: &failed} })
	defer w.Stop()

	// Start from a namespace without schedules (tests share the server).
	for _, v := range s.reg.Views() {
		_ = s.client.ScheduleClient().GetHandle(ctx, workflows.ScheduleID(v.Name)).Delete(ctx)
	}
	changes, err := app.Apply(ctx, s.client, s.reg)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 || changes[0].Action != "created" || changes[2].Action != "created" {
		t.Fatalf("first apply: %v", changes)
	}
	// Live schedules would start windows on the shared queue in later tests.
	t.Cleanup(func() { deleteSchedules(s, s.reg) })
	if again, err := app.Apply(ctx, s.client, s.reg); err != nil || again[0].Action != "unchanged" {
		t.Fatalf("second apply: %v %v", again, err)
	}

	// Windows whose 2 h lateness has passed whatever the time of day (a
	// window within its lateness waits on its timer).
	from, to := s.today.Add(-4*24*time.Hour), s.today.Add(-24*time.Hour)
	run := s.backfill("user_orders", from, to, 2)
	var p workflows.Progress
	if err := run.Get(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if p.Total != 3 || p.Done != 3 || p.Failed != 0 {
		t.Fatalf("progress %+v", p)
	}
	if failed.Load() == 0 {
		t.Fatal("the flaky push never failed: the retry path was not exercised")
	}
	ends := []time.Time{from.Add(24 * time.Hour), from.Add(48 * time.Hour), to}
	recordHistory(t, s.client, run.GetID(), "backfill.json")
	recordHistory(t, s.client, workflows.MaterializeID("user_orders", to), "materialize.json")
	s.expectWindows("user_orders", ends)
	s.expectOnlineEqualsOffline("user_orders", to)

	// starter skew-check agrees, and catches a value written online only.
	t.Setenv("SKEWFREE_REDIS_URL", s.redisURL)
	t.Setenv("SKEWFREE_OFFLINE", "file://"+s.stores.Offline.Root())
	var out, errOut strings.Builder
	if code := cli.Run(ctx, s.reg, []string{"skew-check", "--view", "user_orders", "--sample", "0"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), " 0 mismatches") {
		t.Fatalf("skew-check on consistent stores: code %d\n%s%s", code, out.String(), errOut.String())
	}
	tampered := s.readWindow("user_orders", to).Take([]int{0})
	tampered.Created[0]++
	_ = tampered.Columns[0].Set(0, features.IntValue(tampered.Columns[0].Ints[0]+100))
	if _, err := s.stores.Online.Write(ctx, "user_orders", tampered); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := cli.Run(ctx, s.reg, []string{"skew-check", "--view", "user_orders", "--sample", "0"}, &out, &errOut); code == 0 || !strings.Contains(out.String(), " 1 mismatches") {
		t.Fatalf("skew-check missed a tampered value: code %d\n%s", code, out.String())
	}

	// Re-running a window adds a version and keeps the first one.
	before, err := s.stores.Offline.WindowVersions(ctx, "user_orders", to)
	if err != nil || len(before) != 1 {
		t.Fatalf("versions before the re-run: %+v %v", before, err)
	}
	v, _ := s.reg.View("user_orders")
	wr, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.MaterializeID("user_orders", to), TaskQueue: workflows.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE}, workflows.MaterializeWorkflow, workflows.InputFor(v, to))
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.MaterializeResult
	if err := wr.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Online.Written != int(res.Rows) || res.Online.Stale != 0 {
		t.Errorf("re-run online stats %+v: a newer created_timestamp must replace the value", res.Online)
	}
	s.expectWindows("user_orders", ends)
	s.expectOnlineEqualsOffline("user_orders", to)
	after, err := s.stores.Offline.WindowVersions(ctx, "user_orders", to)
	if err != nil || len(after) != 2 || !after[0].Created.Equal(before[0].Created) || after[0].Rows != before[0].Rows ||
		!after[1].Created.Equal(res.Created) || !after[1].Published.Equal(res.Published) || res.Published.Before(res.Created) {
		t.Fatalf("versions after the re-run %+v (%v), before %+v, result %+v", after, err, before, res)
	}

	// The UI's backfill action is the schedule's backfill API: its runs
	// carry the nominal times, hence the same ids and windows.
	h := s.client.ScheduleClient().GetHandle(ctx, workflows.ScheduleID("product_sales"))
	asked := time.Now().Add(-time.Second) // server and test share a clock; allow rounding
	if err := h.Backfill(ctx, client.ScheduleBackfillOptions{Backfill: []client.ScheduleBackfill{{
		Start: s.today.Add(-2 * 24 * time.Hour), End: s.today, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}}}); err != nil {
		t.Fatal(err)
	}
	psEnds := []time.Time{s.today.Add(-2 * 24 * time.Hour), s.today.Add(-24 * time.Hour), s.today}
	for _, e := range psEnds {
		waitWorkflow(t, s.client, workflows.MaterializeID("product_sales", e), asked)
	}
	s.expectWindows("product_sales", psEnds)
	s.expectOnlineEqualsOffline("product_sales", s.today)

	// The Web UI is served (its pages, not only its API) ...
	resp, err := http.Get(temporalSrv.UIURL() + "/namespaces/" + temporalSrv.Namespace() + "/schedules")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(string(page)), "<html") {
		t.Fatalf("Temporal UI page: %s %.200s", resp.Status, page)
	}
	// ... and answers for the namespace's schedules.
	body := httpGet(t, temporalSrv.UIURL()+"/api/v1/namespaces/"+temporalSrv.Namespace()+"/schedules")
	for _, view := range []string{"user_orders", "user_activity", "product_sales"} {
		if !strings.Contains(body, workflows.ScheduleID(view)) {
			t.Errorf("Temporal UI API does not list schedule of %s: %.300s", view, body)
		}
	}
}

func TestApplyUpdatesAndDeletesSchedules(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	t.Cleanup(func() { deleteSchedules(s, s.reg) })
	if _, err := app.Apply(ctx, s.client, s.reg); err != nil {
		t.Fatal(err)
	}
	// The next version of the repository: user_orders tolerates more
	// lateness, product_sales is gone.
	next := features.NewRegistry()
	for _, name := range []string{"user", "product"} {
		e, _ := s.reg.Entity(name)
		if err := next.Register(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"orders", "page_views"} {
		src, _ := s.reg.Source(name)
		if err := next.Register(src); err != nil {
			t.Fatal(err)
		}
	}
	uo, _ := s.reg.View("user_orders")
	changed := *uo
	changed.Lateness = 5 * time.Hour
	ua, _ := s.reg.View("user_activity")
	if err := next.Register(&changed, ua); err != nil {
		t.Fatal(err)
	}
	// Apply finds schedules to delete by listing them; the listing lags.
	waitListed(t, s.client, workflows.ScheduleID("product_sales"))
	got, err := app.Apply(ctx, s.client, next)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range got {
		lines = append(lines, c.Action+" "+c.Schedule)
	}
	want := []string{"updated materialize-user_orders", "unchanged materialize-user_activity", "deleted materialize-product_sales"}
	if !slices.Equal(lines, want) {
		t.Fatalf("apply changes %v, want %v", lines, want)
	}
	d, err := s.client.ScheduleClient().GetHandle(ctx, workflows.ScheduleID("user_orders")).Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	act := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	var in workflows.MaterializeInput
	if err := converter.GetDefaultDataConverter().FromPayload(act.Args[0].(*commonpb.Payload), &in); err != nil || in.Lateness != 5*time.Hour {
		t.Fatalf("updated schedule input %+v (%v)", in, err)
	}
	// Put the shared server back as the other tests expect it.
	if _, err := app.Apply(ctx, s.client, s.reg); err != nil {
		t.Fatal(err)
	}
}

func TestScheduleTriggerRunsItsNominalWindow(t *testing.T) {
	// Its own project: its schedules and queue are no other test's.
	s := newProjectStack(t, "trigger", "")
	ctx := context.Background()
	// The window's run waits at its source read until released, so a
	// second trigger finds it running.
	var reads atomic.Int32
	release := make(chan struct{})
	w := s.worker(func(a *activities.Activities) { a.Sources = gatedSource{a.Sources, release, &reads} })
	defer w.Stop()
	// Released before the worker stops, also when the test fails early: a
	// held read would keep w.Stop waiting its whole stop timeout.
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce()
	// Both triggers must fall in one hour, and the schedule must not fire
	// its own run of that hour's window (it would hold the window's id):
	// create it well before the next hour.
	if left := time.Until(time.Now().Truncate(time.Hour).Add(time.Hour)); left < 90*time.Second {
		time.Sleep(left + time.Second)
	}
	if _, err := app.ApplyProject(ctx, s.client, s.reg, "trigger"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteSchedules(s, s.reg) })
	h := s.client.ScheduleClient().GetHandle(ctx, s.project.ScheduleID("user_activity"))
	trigger := func(seen map[string]bool) string {
		t.Helper()
		if err := h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			d, err := h.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range d.Info.RecentActions {
				if id := a.StartWorkflowResult.WorkflowID; !seen[id] {
					seen[id] = true
					return id
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatal("the trigger started no workflow")
		return ""
	}
	seen := map[string]bool{}
	if d, err := h.Describe(ctx); err == nil {
		for _, a := range d.Info.RecentActions {
			seen[a.StartWorkflowResult.WorkflowID] = true
		}
	}
	before := time.Now().UTC()
	id := trigger(seen)
	if !strings.HasPrefix(id, s.project.ScheduleID("user_activity")+"-") {
		t.Fatalf("triggered workflow id %q", id)
	}
	nominal, err := time.Parse(time.RFC3339, strings.TrimPrefix(id, s.project.ScheduleID("user_activity")+"-"))
	if err != nil || nominal.Before(before.Add(-time.Second)) {
		t.Fatalf("id %s does not carry the trigger's nominal time (%v)", id, err)
	}
	want := nominal.Truncate(time.Hour)
	canonical := s.project.MaterializeID("user_activity", want)
	// The window runs under its own id, as a child of the triggered run.
	deadline := time.Now().Add(30 * time.Second)
	for reads.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the window's run never read its source")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A second "Trigger now" while the window runs joins it.
	time.Sleep(1100 * time.Millisecond) // the scheduler names runs by the second
	id2 := trigger(seen)
	var joined workflows.MaterializeResult
	if err := s.client.GetWorkflow(ctx, id2, "").Get(ctx, &joined); err != nil {
		t.Fatal(err)
	}
	if joined.Joined != canonical || joined.Rows != 0 {
		t.Fatalf("second trigger %s: %+v, want it to join %s", id2, joined, canonical)
	}
	releaseOnce()
	var res workflows.MaterializeResult
	if err := s.client.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if !res.WindowEnd.Equal(want) || res.Rows == 0 || res.Joined != "" {
		t.Fatalf("trigger at %s: %+v, want window %s computed", nominal, res, want)
	}
	d, err := s.client.DescribeWorkflowExecution(ctx, canonical, "")
	if err != nil {
		t.Fatal(err)
	}
	if info := d.GetWorkflowExecutionInfo(); info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED || info.GetParentExecution().GetWorkflowId() != id {
		t.Fatalf("canonical run %s: %s, parent %v; want completed, started by %s", canonical, info.GetStatus(), info.GetParentExecution(), id)
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("the window read its source %d times: it ran more than once", n)
	}
}

// gatedSource holds every read until release is closed, counting reads.
type gatedSource struct {
	pipeline.SourceReader
	release chan struct{}
	n       *atomic.Int32
}

func (g gatedSource) Read(ctx context.Context, src *features.Source, from, to time.Time) (*features.Frame, error) {
	g.n.Add(1)
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.SourceReader.Read(ctx, src, from, to)
}

func TestWorkerRestartMidBackfill(t *testing.T) {
	// Its own project: a schedule another test left firing at an hour
	// boundary cannot hold one of its window ids.
	s := newProjectStack(t, "restart", "")
	ctx := context.Background()
	slow := func(a *activities.Activities) { a.Sources = slowSource{a.Sources} }
	w1 := s.worker(slow)
	to := time.Now().UTC().Truncate(time.Hour)
	from := to.Add(-8 * time.Hour)
	run := s.backfill("user_activity", from, to, 1)
	// Stop the first worker once a window is done and more are pending.
	deadline := time.Now().Add(60 * time.Second)
	for {
		v, err := s.client.QueryWorkflow(ctx, run.GetID(), "", workflows.ProgressQuery)
		var p workflows.Progress
		if err == nil && v.Get(&p) == nil && p.Done >= 2 {
			if p.Done == p.Total {
				t.Fatal("backfill finished before the worker could be stopped")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	w1.Stop()
	w2 := s.worker(nil)
	defer w2.Stop()
	var p workflows.Progress
	if err := run.Get(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if p.Done != 8 || p.Failed != 0 {
		t.Fatalf("progress after restart %+v", p)
	}
	var ends []time.Time
	for i := 1; i <= 8; i++ {
		ends = append(ends, from.Add(time.Duration(i)*time.Hour))
	}
	s.expectWindows("user_activity", ends)
	s.expectOnlineEqualsOffline("user_activity", to)
}

func TestBadInputFailsWithoutRetries(t *testing.T) {
	s := newProjectStack(t, uniqueProject("badinput"), "")
	ctx := context.Background()
	var reads atomic.Int32
	w := s.worker(func(a *activities.Activities) { a.Sources = countingSource{a.Sources, &reads} })
	defer w.Stop()
	v, _ := s.reg.View("user_orders")
	end := s.today.Add(-5 * 24 * time.Hour)
	// A source folder that does not exist is a configuration error.
	srcRoot := filepath.Join(filepath.Dir(s.stores.Offline.Root()), "raw", "orders")
	if err := os.RemoveAll(srcRoot); err != nil {
		t.Fatal(err)
	}
	run, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: s.project.MaterializeID("user_orders", end), TaskQueue: s.project.TaskQueue()},
		workflows.MaterializeWorkflow, s.project.InputFor(v, end))
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	if !hasAppErrorType(err, activities.ErrTypeBadInput) || !strings.Contains(err.Error(), "source orders") {
		t.Fatalf("err %v, want a BadInput error naming the source", err)
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("source read %d times: bad input must not be retried", n)
	}
}

// flakyOnline fails the first write it sees, as a dropped connection would.
type flakyOnline struct {
	activities.Online
	failures *atomic.Int32
}

func (f *flakyOnline) Write(ctx context.Context, view string, fr *features.Frame) (activities.OnlineStats, error) {
	if f.failures.Load() < 1 {
		f.failures.Add(1)
		return activities.OnlineStats{}, errors.New("injected: connection reset by peer")
	}
	return f.Online.Write(ctx, view, fr)
}

// hasAppErrorType reports whether an application error of type typ is in
// err's chain (workflows wrap their activities' errors with context).
func hasAppErrorType(err error, typ string) bool {
	for err != nil {
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) {
			return false
		}
		if appErr.Type() == typ {
			return true
		}
		err = appErr.Unwrap()
	}
	return false
}

type slowSource struct{ pipeline.SourceReader }

func (s slowSource) Read(ctx context.Context, src *features.Source, from, to time.Time) (*features.Frame, error) {
	time.Sleep(300 * time.Millisecond)
	return s.SourceReader.Read(ctx, src, from, to)
}

type countingSource struct {
	pipeline.SourceReader
	n *atomic.Int32
}

func (c countingSource) Read(ctx context.Context, src *features.Source, from, to time.Time) (*features.Frame, error) {
	c.n.Add(1)
	return c.SourceReader.Read(ctx, src, from, to)
}

// recordHistory saves a workflow's history under workflows/testdata when
// SKEWFREE_RECORD_HISTORIES is set, for the replay tests that catch
// non-deterministic changes to shipped workflows.
func recordHistory(t *testing.T, c client.Client, id, name string) {
	t.Helper()
	if os.Getenv("SKEWFREE_RECORD_HISTORIES") == "" {
		return
	}
	ctx := context.Background()
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "workflows", "testdata", name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitWorkflow waits until the latest run of id started after after and
// completed (tests share the server, so an earlier run may hold the id).
func waitWorkflow(t *testing.T, c client.Client, id string, after time.Time) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err == nil {
			info := d.GetWorkflowExecutionInfo()
			if info.GetStartTime().AsTime().After(after) {
				switch info.GetStatus() {
				case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
					return
				case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
				default:
					t.Fatalf("workflow %s ended %s", id, info.GetStatus())
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflow %s: no completed run started after %s (%v)", id, after, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	var js any
	if json.Unmarshal(b, &js) != nil {
		t.Fatalf("GET %s: not JSON: %.200s", url, b)
	}
	return string(b)
}

// deleteSchedules removes the stack's project's schedules of reg's views.
func deleteSchedules(s *stack, reg *features.Registry) {
	for _, v := range reg.Views() {
		_ = s.client.ScheduleClient().GetHandle(context.Background(), s.project.ScheduleID(v.Name)).Delete(context.Background())
	}
}

// uniqueProject names a project new to the shared server, for tests whose
// workflow ids must not meet an earlier run's (go test -count=N).
func uniqueProject(prefix string) string {
	return prefix + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}
