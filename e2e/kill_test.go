//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/skewfree/skewfree/cli"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/workflows"
)

// workerProc is a worker binary running as a child process.
type workerProc struct {
	cmd *exec.Cmd
	log *bytes.Buffer
}

// startWorkerProc starts the worker binary with the stack's configuration.
// The kernel kills it if the test process dies.
func startWorkerProc(t *testing.T, bin string, env []string) *workerProc {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &workerProc{cmd: cmd, log: &log}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("worker %d log (tail):\n%s", cmd.Process.Pid, tail(p.log.String(), 3000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestKillWorkerProcessMidBackfill SIGKILLs a real worker process while its
// activities run in the middle of a 72-window hourly backfill, starts a new
// worker process, and checks that every window ends exact: its rows, over
// all of its files, are the transform's rows, each key once, none lost,
// within a bounded time. The backfill is started and watched through the
// starter's command line, as a user would, with short activity timeouts
// from the configuration, so abandoned activities are retried in seconds.
func TestKillWorkerProcessMidBackfill(t *testing.T) {
	// A project of its own, new each run: the shared server keeps every
	// earlier run's workflows (go test -count=N), and their ids must not
	// meet this run's.
	project := uniqueProject("kill")
	s := newProjectStack(t, project, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const view, windows = "user_activity", 72
	v, _ := s.reg.View(view)

	// Heavier events than newStack's, so windows take long enough that a
	// kill lands while activities run.
	to := s.today.Add(-24 * time.Hour)
	from := to.Add(-windows * time.Hour)
	frames, err := demo.Generate(demo.GenOptions{Users: 3000, Products: 100, Days: 5, Start: from.Add(-48 * time.Hour), Seed: 7, ViewsPerUserDay: 12})
	if err != nil {
		t.Fatal(err)
	}
	srcDef := s.reg.SourceOf(v)
	if _, err := s.stores.Sources.Write(ctx, srcDef, frames[srcDef.Name]); err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(t.TempDir(), "worker")
	build := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "github.com/skewfree/skewfree/worker")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./worker: %v\n%s", err, out)
	}
	env := map[string]string{
		"TEMPORAL_ADDRESS": temporalSrv.FrontendAddr(), "TEMPORAL_NAMESPACE": temporalSrv.Namespace(),
		"SKEWFREE_REDIS_URL": s.redisURL, "SKEWFREE_OFFLINE": "file://" + s.stores.Offline.Root(),
		"SKEWFREE_SOURCE":            "file://" + s.sourceRoot(),
		"SKEWFREE_HEARTBEAT_TIMEOUT": "10s", "SKEWFREE_ACTIVITY_TIMEOUT": "60s",
		"SKEWFREE_PROJECT": project,
		// Any free port: the default 9464 may be taken (make dev, another test).
		"SKEWFREE_WORKER_METRICS_ADDR": "127.0.0.1:0",
	}
	var kv []string
	for k, val := range env {
		kv = append(kv, k+"="+val)
		t.Setenv(k, val) // the starter reads the same configuration
	}
	w1 := startWorkerProc(t, bin, kv)

	// Start the backfill with the starter and let it wait, its output a
	// buffer (not a terminal) that the test reads while it writes.
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, s.reg, []string{"backfill", "--view", view, "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339),
			"--concurrency", "4", "--wait"}, &stdout, &stderr)
	}()
	id := s.project.BackfillID(view, from, to)
	ends := features.WindowEnds(v, from, to)
	if len(ends) != windows {
		t.Fatalf("%d window ends", len(ends))
	}

	// Kill once a few windows are done and an activity of a later one is
	// running on the worker.
	var killedRunning []string
	killedIDs := map[string]bool{} // the workflows whose activities died
	deadline := time.Now().Add(2 * time.Minute)
	for killedRunning == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no running activity to kill within 2 minutes; starter: %s", stderr.String())
		}
		var p workflows.Progress
		q, err := s.client.QueryWorkflow(ctx, id, "", workflows.ProgressQuery)
		if err != nil || q.Get(&p) != nil || p.Done < 4 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if p.Done+p.Failed >= windows-8 {
			t.Fatalf("backfill nearly finished (%+v) before an activity could be caught running: make the windows heavier", p)
		}
		for _, e := range ends[p.Done:min(p.Done+12, len(ends))] {
			wid := s.project.MaterializeID(view, e)
			if running := startedActivities(ctx, s.client, wid); len(running) > 0 {
				killedRunning = append(killedRunning, running...)
				killedIDs[wid] = true
			}
		}
		if killedRunning == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := w1.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = w1.cmd.Wait()
	killedAt := time.Now()
	t.Logf("SIGKILLed the worker with activities running: %v", killedRunning)
	startWorkerProc(t, bin, kv)

	var code int
	select {
	case code = <-done:
	case <-ctx.Done():
		t.Fatalf("backfill not done 5 minutes after it started; starter: %s", stderr.String())
	}
	t.Logf("backfill done %s after the kill", time.Since(killedAt).Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("starter backfill exit %d: %s %s", code, stdout.String(), stderr.String())
	}
	if want := fmt.Sprintf("%d of %d windows done, 0 skipped (already stored), 0 failed", windows, windows); !strings.Contains(stdout.String(), want) {
		t.Fatalf("starter summary %q, want %q", stdout.String(), want)
	}
	// Heartbeat timeout 10 s, retries from 1 s: a dead worker costs seconds
	// (10 s, not less: heartbeats go out at 0.8 of it, on a loaded machine).
	// Recovery is measured to when the windows whose activities died closed
	// (the server's close times), not to the end of the backfill: the rest
	// of the backfill's work grows with the machine's load, the cost of the
	// kill does not.
	recovery := recoveryOf(t, s.client, killedIDs, killedAt)
	t.Logf("the killed windows closed %s after the kill", recovery.Round(time.Millisecond))
	if recovery > 90*time.Second {
		t.Errorf("recovery took %s, want under 90 s with a 10 s heartbeat timeout", recovery)
	}
	if strings.Contains(stderr.String(), "\r") || !strings.Contains(stderr.String(), "backfill "+id+": ") {
		t.Errorf("starter progress on a non-terminal should be plain lines:\n%q", tail(stderr.String(), 500))
	}

	s.expectExactWindows(view, ends)
}

// recoveryOf is how long after killedAt the last of the workflows ids
// closed, by the server's close times.
func recoveryOf(t *testing.T, c client.Client, ids map[string]bool, killedAt time.Time) time.Duration {
	t.Helper()
	var last time.Time
	for id := range ids {
		d, err := c.DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			t.Fatalf("describe %s: %v", id, err)
		}
		info := d.GetWorkflowExecutionInfo()
		if info.GetCloseTime() == nil {
			t.Fatalf("%s still open after its backfill finished", id)
		}
		if ct := info.GetCloseTime().AsTime(); ct.After(last) {
			last = ct
		}
	}
	return last.Sub(killedAt)
}

// lockedBuffer is a bytes.Buffer safe to read while another goroutine
// writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startedActivities lists the activities of a workflow a worker has started
// and not finished.
func startedActivities(ctx context.Context, c client.Client, id string) []string {
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range d.GetPendingActivities() {
		if a.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
			out = append(out, id+"/"+a.GetActivityType().GetName())
		}
	}
	return out
}

// sourceRoot is the stack's raw data folder.
func (s *stack) sourceRoot() string {
	return filepath.Join(filepath.Dir(s.stores.Offline.Root()), "raw")
}

// expectExactWindows checks each window over all of its offline files
// (whatever their naming: one file per window, or one per version or
// shard): the rows are exactly the transform's rows for that window, each
// key once, every window present.
func (s *stack) expectExactWindows(view string, ends []time.Time) {
	s.t.Helper()
	ctx := context.Background()
	v, _ := s.reg.View(view)
	spec := parquet.HistorySpec(s.reg.EntityOf(v), v.Features())
	// Keys with a non-drained row in an earlier window (the store starts
	// empty): the only keys a run may give an extra, drained row.
	active := map[string]bool{}
	for _, e := range ends {
		files, err := s.stores.Offline.ViewFiles(ctx, view, e, e)
		if err != nil {
			s.t.Fatal(err)
		}
		got := map[string][]features.Value{}
		keyOf := map[string]features.Value{}
		nfiles := 0
		for _, path := range files {
			base := filepath.Base(path)
			if !strings.HasPrefix(base, "part-"+parquet.WindowStamp(e)) {
				continue
			}
			nfiles++
			fr, err := parquet.ReadFile(path, spec)
			if err != nil {
				s.t.Fatal(err)
			}
			for i := range fr.Len() {
				key := fr.Key.Value(i).String()
				if _, dup := got[key]; dup {
					s.t.Fatalf("%s window %s: key %s appears twice (file %s)", view, e.Format(time.RFC3339), key, base)
				}
				if fr.Time[i] != features.Micros(e) {
					s.t.Fatalf("%s window %s: row with event_timestamp %s in %s", view, e.Format(time.RFC3339), features.FromMicros(fr.Time[i]), base)
				}
				row := make([]features.Value, len(fr.Columns))
				for j, c := range fr.Columns {
					row[j] = c.Value(i)
				}
				got[key] = row
				keyOf[key] = fr.Key.Value(i)
			}
		}
		// The clean computation, plus the drained rows a run adds for keys
		// whose newest stored row was not drained (a window run out of order
		// in a concurrent backfill finds such keys): those must hold exactly
		// what the transform gives a key without events.
		src := s.reg.SourceOf(v)
		ev, err := s.stores.Sources.Read(ctx, src, features.Window(v, e), e)
		if err != nil {
			s.t.Fatal(err)
		}
		plain, err := features.Compute(s.reg, v, ev, e, e)
		if err != nil {
			s.t.Fatal(err)
		}
		inPlain := map[string]bool{}
		for i := range plain.Len() {
			inPlain[plain.Key.Value(i).String()] = true
		}
		extra := features.NewColumn(plain.Key.Name, plain.Key.Type, 0)
		for k := range got {
			if !inPlain[k] {
				if !active[k] {
					s.t.Fatalf("%s window %s: key %s has a row without events and without an earlier non-drained row", view, e.Format(time.RFC3339), k)
				}
				_ = extra.Append(keyOf[k])
			}
		}
		live, err := features.NotDrained(s.reg, v, plain)
		if err != nil {
			s.t.Fatal(err)
		}
		for i := range live.Len() {
			active[live.Value(i).String()] = true
		}
		want, err := features.ComputeWith(s.reg, v, ev, e, e, features.ComputeOptions{ExtraKeys: extra})
		if err != nil {
			s.t.Fatal(err)
		}
		if nfiles == 0 || plain.Len() == 0 {
			s.t.Fatalf("%s window %s: %d files, transform computes %d rows: window lost", view, e.Format(time.RFC3339), nfiles, plain.Len())
		}
		if len(got) != want.Len() {
			s.t.Fatalf("%s window %s: %d keys offline, the transform computes %d (+%d drained)", view, e.Format(time.RFC3339), len(got), plain.Len(), extra.Len())
		}
		for i := range want.Len() {
			key := want.Key.Value(i).String()
			row, ok := got[key]
			if !ok {
				s.t.Fatalf("%s window %s: key %s missing offline", view, e.Format(time.RFC3339), key)
			}
			for j, c := range want.Columns {
				if !row[j].Equal(c.Value(i)) {
					s.t.Fatalf("%s window %s key %s %s: offline %s, clean computation %s", view, e.Format(time.RFC3339), key, c.Name, row[j], c.Value(i))
				}
			}
		}
	}
}
