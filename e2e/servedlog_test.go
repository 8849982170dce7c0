package e2e

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/skewfree/skewfree/cli"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/httpapi"
	"github.com/skewfree/skewfree/serving/servedlog"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/workflows"
)

// TestServedLogSkewCheck is live skew measurement end to end: windows
// materialized through Temporal, requests served over HTTP by a reader
// logging every row (rate 1), and `starter skew-check --served` over the
// log finds 0 disagreements. A value written to Redis by hand (through the
// redis store, so with the view's fingerprint: the reader serves it) is
// then served, and the check over those requests reports the mismatch and
// exits 1. Finally the served log is the entity table of a training set.
func TestServedLogSkewCheck(t *testing.T) {
	s := newProjectStack(t, uniqueProject("served"), "")
	ctx := context.Background()
	w := s.worker(nil)
	defer w.Stop()

	ua, _ := s.reg.View("user_activity") // hourly, TTL 6h
	uo, _ := s.reg.View("user_orders")   // daily, 2h lateness, TTL 2d
	h2 := time.Now().UTC().Truncate(time.Hour)
	d1 := s.today.Add(-24 * time.Hour)
	for _, run := range []struct {
		v   *features.View
		end time.Time
	}{{ua, h2.Add(-time.Hour)}, {ua, h2}, {uo, d1}} {
		r, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: s.project.MaterializeID(run.v.Name, run.end), TaskQueue: s.project.TaskQueue(),
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		}, workflows.MaterializeWorkflow, s.project.InputFor(run.v, run.end))
		if err != nil {
			t.Fatal(err)
		}
		var res workflows.MaterializeResult
		if err := r.Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		if res.Published.IsZero() || res.Rows == 0 {
			t.Fatalf("%s %s: %+v", run.v.Name, run.end, res)
		}
	}

	var refs []string
	for _, v := range []*features.View{ua, uo} {
		for _, f := range v.Features() {
			refs = append(refs, v.Name+":"+f.Name)
		}
	}
	users := []string{"nobody"}
	for i := range 120 {
		users = append(users, demo.UserID(i))
	}
	root := s.stores.Offline.Root()
	offline := "file://" + root

	// serve answers requests over HTTP with a reader logging every row, in
	// batches of 20 users, twice, and returns the request-time range.
	serve := func() (from, to time.Time) {
		t.Helper()
		l, err := servedlog.New(s.reg, servedlog.OfflineDir(root), servedlog.Options{Rate: 1, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		r, err := serving.New(s.reg, s.stores.Online, serving.Options{ServedLog: l})
		if err != nil {
			t.Fatal(err)
		}
		h, err := httpapi.New(s.reg, r, s.stores.Online, httpapi.Options{})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		from = time.Now().UTC()
		for range 2 {
			for lo := 0; lo < len(users); lo += 20 {
				body, _ := json.Marshal(map[string]any{"features": refs, "entities": map[string]any{"user_id": users[lo:min(lo+20, len(users))]}})
				resp, err := http.Post(srv.URL+"/get-online-features", "application/json", strings.NewReader(string(body)))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
		}
		to = time.Now().UTC().Add(time.Microsecond)
		srv.Close()
		r.Close()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if st := l.Stats(); st.Written != uint64(2*len(users)) || st.Dropped != 0 {
			t.Fatalf("served log stats %+v, want %d rows written", st, 2*len(users))
		}
		time.Sleep(2 * time.Millisecond)
		return from, to
	}
	check := func(from, to time.Time) (int, string) {
		t.Helper()
		var out, errOut strings.Builder
		code := cli.Run(ctx, s.reg, []string{"skew-check", "--served", "--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano),
			"--offline", offline}, &out, &errOut)
		return code, out.String() + errOut.String()
	}

	clean0, clean1 := serve()
	code, out := check(clean0, clean1)
	t.Logf("clean stack:\n%s", out)
	if code != 0 || !strings.Contains(out, "0 mismatches, 0 missing, 0 extra") || !strings.Contains(out, "rows checked") {
		t.Fatalf("skew-check --served on a clean stack: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, " 242 rows checked") {
		t.Fatalf("want 242 rows checked:\n%s", out)
	}

	// A value written by hand: a user's user_orders with a later created
	// time and other values, through the redis store (the fingerprint is
	// the registry's, so the reader serves it). The user is one with a
	// value, so that the check reports a mismatch (not a missing value).
	probe, err := serving.New(s.reg, s.stores.Online, serving.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pres, err := probe.Get(ctx, []string{"user_orders:order_count_7d"}, serving.Entities{"user_id": serving.StringKeys(users...)})
	probe.Close()
	if err != nil {
		t.Fatal(err)
	}
	victim := ""
	for i, row := range pres.Rows {
		if row[0].Status == serving.Present && !row[0].Value.IsNull() && victim == "" {
			victim = users[i]
		}
	}
	if victim == "" {
		t.Fatal("no user has user_orders:order_count_7d online")
	}
	hand := testenv.Frame(t, s.reg, "user_orders", serving.StringKeys(victim), d1, time.Now().UTC(), testenv.Sample(987654))
	if st, err := s.stores.Online.Write(ctx, "user_orders", hand); err != nil || st.Written != 1 {
		t.Fatalf("hand write: %+v %v", st, err)
	}
	skew0, skew1 := serve()
	code, out = check(skew0, skew1)
	t.Logf("after the hand-written value:\n%s", out)
	if code == 0 || !strings.Contains(out, `MISMATCH user_id="`+victim+`" user_orders:order_count_7d`) ||
		!strings.Contains(out, "served 987654000 (PRESENT") {
		t.Fatalf("skew-check --served missed the hand-written value: exit %d\n%s", code, out)
	}
	// The clean range stays clean: the check reads only its requests.
	if code, out := check(clean0, clean1); code != 0 {
		t.Fatalf("the clean range after the skew: exit %d\n%s", code, out)
	}

	// The served log is an entity table: train on what was served.
	train := filepath.Join(t.TempDir(), "train.parquet")
	var tout, terr strings.Builder
	if code := cli.Run(ctx, s.reg, []string{"training-set", "--entities", filepath.Join(root, servedlog.Folder),
		"--features", "user_orders:order_count_7d", "--as-known-at", "--offline", offline, "--out", train}, &tout, &terr); code != 0 {
		t.Fatalf("training-set --entities <served log>: %s", terr.String())
	}
	f, err := parquet.OpenFile(train)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.NumRows() != int64(4*len(users)) {
		t.Fatalf("training set has %d rows, want %d (every logged row)", f.NumRows(), 4*len(users))
	}
	served, offl := "served__user_orders__order_count_7d", "user_orders__order_count_7d"
	var a, b, key *features.Column
	for _, rg := range f.RowGroups() {
		if a, err = f.ReadColumn(rg, served, features.Int64, a); err != nil {
			t.Fatal(err)
		}
		if b, err = f.ReadColumn(rg, offl, features.Int64, b); err != nil {
			t.Fatal(err)
		}
		if key, err = f.ReadColumn(rg, "user_id", features.String, key); err != nil {
			t.Fatal(err)
		}
	}
	same, present := 0, 0
	for i := range a.Len() {
		if a.Valid[i] {
			present++
		}
		if a.Value(i).Equal(b.Value(i)) {
			same++
		} else if key.Strings[i] != victim {
			t.Fatalf("row %d (%s): served %v, training set %v", i, key.Strings[i], a.Value(i), b.Value(i))
		}
	}
	if present == 0 || same != a.Len()-2 {
		t.Fatalf("%d present, %d of %d equal; want all but the 2 hand-written ones", present, same, a.Len())
	}
}
