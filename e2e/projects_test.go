package e2e

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/workflows"
)

// registryWithout is the stack's registry minus some views.
func registryWithout(t *testing.T, reg *features.Registry, drop ...string) *features.Registry {
	t.Helper()
	next := features.NewRegistry()
	for _, name := range []string{"user", "product"} {
		e, _ := reg.Entity(name)
		if err := next.Register(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"orders", "page_views"} {
		src, _ := reg.Source(name)
		if err := next.Register(src); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range reg.Views() {
		if !slices.Contains(drop, v.Name) {
			if err := next.Register(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	return next
}

// foreignSchedule creates a schedule that `starter apply` did not make.
func foreignSchedule(t *testing.T, c client.Client, id, queue string, args ...any) {
	t.Helper()
	ctx := context.Background()
	_ = c.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:     id,
		Spec:   client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: 24 * time.Hour}}},
		Action: &client.ScheduleWorkflowAction{ID: id, Workflow: "MaterializeWorkflow", TaskQueue: queue, Args: args},
		Paused: true,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func scheduleExists(t *testing.T, c client.Client, id string) bool {
	t.Helper()
	_, err := c.ScheduleClient().GetHandle(context.Background(), id).Describe(context.Background())
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func changeLines(ch []app.Change) []string {
	var out []string
	for _, c := range ch {
		out = append(out, c.Action+" "+c.Schedule)
	}
	return out
}

// TestTwoProjectsShareANamespace runs two projects side by side in one
// Temporal namespace and one Redis: apply touches only its own project's
// schedules (and never an unmarked one it does not own), each project's
// worker runs only its own task queue, and online keys do not collide.
func TestTwoProjectsShareANamespace(t *testing.T) {
	ctx := context.Background()
	redisURL := "redis://" + testenv.StartRedis(t).Addr
	a := newProjectStack(t, "team-a", redisURL)
	b := newProjectStack(t, "team-b", redisURL)
	pa, pb := a.project, b.project

	// A schedule of someone else's, named like the default project's.
	foreignSchedule(t, a.client, "materialize-foreign_view", "someone-elses-queue")
	defer a.client.ScheduleClient().GetHandle(ctx, "materialize-foreign_view").Delete(ctx)

	// An unmarked schedule holding A's id with another action: left alone,
	// with an error naming it.
	uaID := pa.ScheduleID("user_activity")
	foreignSchedule(t, a.client, uaID, "someone-elses-queue")
	// (Views apply in order: user_orders comes first.)
	if ch, err := app.ApplyProject(ctx, a.client, a.reg, "team-a"); err == nil || !strings.Contains(err.Error(), uaID) || !strings.Contains(err.Error(), "left alone") ||
		!slices.Equal(changeLines(ch), []string{"created " + pa.ScheduleID("user_orders")}) {
		t.Fatalf("apply over a foreign schedule holding our id: %v %v", changeLines(ch), err)
	}
	d, err := a.client.ScheduleClient().GetHandle(ctx, uaID).Describe(ctx)
	if err != nil || d.Schedule.Action.(*client.ScheduleWorkflowAction).TaskQueue != "someone-elses-queue" {
		t.Fatalf("the foreign schedule was touched: %v", err)
	}
	// An unmarked schedule with exactly our id and our action (made before
	// schedules were marked) is adopted.
	ua, _ := a.reg.View("user_activity")
	foreignSchedule(t, a.client, uaID, pa.TaskQueue(), pa.InputFor(ua, time.Time{}))

	gotA, err := app.ApplyProject(ctx, a.client, a.reg, "team-a")
	if err != nil {
		t.Fatal(err)
	}
	wantA := []string{"unchanged " + pa.ScheduleID("user_orders"), "adopted " + uaID, "created " + pa.ScheduleID("product_sales")}
	if !slices.Equal(changeLines(gotA), wantA) {
		t.Fatalf("apply A: %v, want %v", changeLines(gotA), wantA)
	}
	d, err = a.client.ScheduleClient().GetHandle(ctx, uaID).Describe(ctx)
	if err != nil || d.Schedule.State == nil || !d.Schedule.State.Paused {
		t.Fatalf("adopted schedule lost its paused state: %+v %v", d, err)
	}

	// B's registry lacks product_sales: B's apply deletes nothing of A's.
	bReg := registryWithout(t, b.reg, "product_sales")
	gotB, err := app.ApplyProject(ctx, b.client, bReg, "team-b")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"created " + pb.ScheduleID("user_orders"), "created " + pb.ScheduleID("user_activity")}; !slices.Equal(changeLines(gotB), want) {
		t.Fatalf("apply B: %v, want %v", changeLines(gotB), want)
	}
	again, err := app.ApplyProject(ctx, a.client, a.reg, "team-a")
	if err != nil || !slices.Equal(changeLines(again), []string{"unchanged " + pa.ScheduleID("user_orders"), "unchanged " + uaID, "unchanged " + pa.ScheduleID("product_sales")}) {
		t.Fatalf("apply A again: %v %v", changeLines(again), err)
	}
	// The default project's apply (which once deleted every materialize-*
	// schedule) leaves A's, B's and the foreign one alone.
	if _, err := app.Apply(ctx, a.client, registryWithout(t, a.reg, "product_sales", "user_orders", "user_activity")); err != nil {
		t.Fatal(err)
	}
	// A drops product_sales: only A's schedule of it goes. Apply finds
	// schedules to delete by listing them, and the listing lags creation.
	waitListed(t, a.client, pa.ScheduleID("product_sales"))
	gotA, err = app.ApplyProject(ctx, a.client, registryWithout(t, a.reg, "product_sales"), "team-a")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(changeLines(gotA), "deleted "+pa.ScheduleID("product_sales")) || len(gotA) != 3 {
		t.Fatalf("apply A without product_sales: %v", changeLines(gotA))
	}
	for id, want := range map[string]bool{
		pa.ScheduleID("user_orders"): true, uaID: true, pa.ScheduleID("product_sales"): false,
		pb.ScheduleID("user_orders"): true, pb.ScheduleID("user_activity"): true, "materialize-foreign_view": true,
	} {
		if got := scheduleExists(t, a.client, id); got != want {
			t.Errorf("schedule %s exists %v, want %v", id, got, want)
		}
	}
	for _, id := range []string{pa.ScheduleID("user_orders"), uaID, pb.ScheduleID("user_orders"), pb.ScheduleID("user_activity")} {
		_ = a.client.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
	}

	// Each worker runs only its project's queue: with only B's worker up,
	// A's backfill does not move.
	wb := b.worker(nil)
	defer wb.Stop()
	// Windows past their 2 h lateness whatever the time, still within TTL.
	from, to := a.today.Add(-3*24*time.Hour), a.today.Add(-24*time.Hour)
	ends := []time.Time{from.Add(24 * time.Hour), to}
	runA := a.backfill("user_orders", from, to, 2)
	time.Sleep(3 * time.Second)
	desc, err := a.client.DescribeWorkflowExecution(ctx, runA.GetID(), "")
	if err != nil {
		t.Fatal(err)
	}
	if st, n := desc.WorkflowExecutionInfo.Status, desc.WorkflowExecutionInfo.HistoryLength; st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || n > 2 {
		t.Fatalf("A's backfill ran without A's worker: %s, %d history events", st, n)
	}
	if files, _ := b.stores.Offline.ViewFiles(ctx, "user_orders", time.Time{}, time.Time{}); len(files) != 0 {
		t.Fatalf("B's worker computed A's windows: %v", files)
	}
	wa := a.worker(nil)
	defer wa.Stop()
	var p workflows.Progress
	if err := runA.Get(ctx, &p); err != nil || p.Done != 2 {
		t.Fatalf("A's backfill: %+v %v", p, err)
	}
	if err := b.backfill("user_orders", from, to, 2).Get(ctx, &p); err != nil || p.Done != 2 {
		t.Fatalf("B's backfill: %+v %v", p, err)
	}
	a.expectWindows("user_orders", ends)
	b.expectWindows("user_orders", ends)

	// One Redis, two key spaces, each served to its own project.
	opt, err := goredis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rc := goredis.NewClient(opt)
	defer rc.Close()
	keys := func(prefix string) []string {
		var out []string
		it := rc.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for it.Next(ctx) {
			out = append(out, strings.TrimPrefix(it.Val(), prefix+":"))
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	ka, kb, kdef := keys("team-a.sf"), keys("team-b.sf"), keys("sf")
	if len(ka) == 0 || !slices.Equal(ka, kb) || len(kdef) != 0 {
		t.Fatalf("online keys: A %d, B %d (equal %v), default project %d", len(ka), len(kb), slices.Equal(ka, kb), len(kdef))
	}
	a.expectOnlineEqualsOffline("user_orders", to)
	b.expectOnlineEqualsOffline("user_orders", to)

	// Backfilling the same range again skips the stored windows: no new
	// version, no new file (`make dev` restarts do this).
	before := fileTimes(t, a, ends)
	if err := a.backfill("user_orders", from, to, 2).Get(ctx, &p); err != nil || p.Skipped != 2 || p.Done != 0 {
		t.Fatalf("repeated backfill: %+v %v", p, err)
	}
	if after := fileTimes(t, a, ends); !slices.Equal(before, after) {
		t.Fatalf("a skipped window was rewritten: %v -> %v", before, after)
	}
	a.expectWindows("user_orders", ends)
}

// fileTimes are the modification times of a stack's files of user_orders.
func fileTimes(t *testing.T, s *stack, ends []time.Time) []time.Time {
	t.Helper()
	files, err := s.stores.Offline.ViewFiles(context.Background(), "user_orders", time.Time{}, time.Time{})
	if err != nil || len(files) < len(ends) {
		t.Fatalf("files %v: %v", files, err)
	}
	var out []time.Time
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, st.ModTime())
	}
	return out
}

// waitListed waits until the schedule listing (visibility, which lags
// creation) shows id.
func waitListed(t *testing.T, c client.Client, id string) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				break
			}
			if e.ID == id {
				return
			}
		}
	}
	t.Fatalf("schedule %s never listed", id)
}
