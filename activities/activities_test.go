package activities_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/store/parquet"
)

var start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*activities.Activities, *parquet.Store) {
	t.Helper()
	return setupAt(t, start)
}

// setupAt generates 5 days of demo events from start.
func setupAt(t *testing.T, start time.Time) (*activities.Activities, *parquet.Store) {
	t.Helper()
	reg := demo.Registry()
	src, off := openStores(t, t.TempDir())
	frames, err := demo.Generate(demo.GenOptions{Users: 300, Products: 40, Days: 5, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	for name, fr := range frames {
		s, _ := reg.Source(name)
		if _, err := src.Write(context.Background(), s, fr); err != nil {
			t.Fatal(err)
		}
	}
	return &activities.Activities{Registry: reg, Sources: src, Offline: off}, off
}

// openStores opens a raw-source root and an offline store under dir.
func openStores(t *testing.T, dir string) (*parquet.Sources, *parquet.Store) {
	t.Helper()
	src, err := parquet.OpenSources(filepath.Join(dir, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	off, err := parquet.Open(filepath.Join(dir, "offline"))
	if err != nil {
		t.Fatal(err)
	}
	return src, off
}

func keysOf(t *testing.T, path string) []string {
	t.Helper()
	f, err := parquet.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var keys []string
	err = f.ReadFrames(parquet.FrameSpec{Key: "user_id", KeyType: features.String, Time: parquet.EventTimestamp}, func(fr *features.Frame) error {
		keys = append(keys, fr.Key.Strings...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// Shards of a window together hold exactly the rows of the unsharded window,
// each key in one shard, and committing removes what an earlier run left.
func TestShardsPartitionTheWindow(t *testing.T) {
	a, off := setup(t)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	end := start.Add(4 * 24 * time.Hour)
	created := end.Add(time.Hour)

	wout := computeWindow(t, env, a, activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: -1})
	want := keysOf(t, filepath.Join(off.Root(), wout.Partition.Path))

	// An earlier run with 5 shards left shard files 3 and 4 behind.
	for _, sh := range []int{3, 4} {
		if _, err := env.ExecuteActivity(a.ComputeWindow, activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: sh, Shards: 5}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for sh := range 3 {
		out := computeWindow(t, env, a, activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: sh, Shards: 3})
		keys := keysOf(t, filepath.Join(off.Root(), out.Partition.Path))
		if len(keys) == 0 {
			t.Fatalf("shard %d is empty: the hash does not spread keys", sh)
		}
		got = append(got, keys...)
	}
	// Another run's version of the window must survive this run's commit.
	other := created.Add(time.Hour)
	if _, err := env.ExecuteActivity(a.ComputeWindow, activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: other, Shard: 4, Shards: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.ExecuteActivity(a.CommitShards, activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: -1, Shards: 3}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("shards hold %d keys, the whole window %d", len(got), len(want))
	}
	files, _ := off.ViewFiles(context.Background(), "user_orders", time.Time{}, time.Time{})
	if len(files) != 4 {
		t.Fatalf("after commit: %v", files)
	}
	for i, f := range files[:3] {
		if want := parquet.VersionFile("user_orders", end, created, i); !strings.HasSuffix(f, want) {
			t.Fatalf("file %s, want %s", f, want)
		}
	}
	if want := parquet.VersionFile("user_orders", end, other, 4); !strings.HasSuffix(files[3], want) {
		t.Fatalf("the other run's shard is gone: %v", files)
	}
}

func TestBadInputIsNonRetryable(t *testing.T) {
	a, _ := setup(t)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	cases := []struct {
		name string
		in   activities.ComputeInput
		want string
	}{
		{"unknown view", activities.ComputeInput{View: "ghost", WindowEnd: start, Shard: -1}, `unknown view "ghost"`},
		{"unaligned window", activities.ComputeInput{View: "user_orders", WindowEnd: start.Add(time.Hour), Shard: -1}, "not aligned"},
		{"bad shard", activities.ComputeInput{View: "user_orders", WindowEnd: start, Shard: 3, Shards: 3}, "shard 3 of 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := env.ExecuteActivity(a.ComputeWindow, c.in)
			var appErr *temporal.ApplicationError
			if err == nil || !errors.As(err, &appErr) || !appErr.NonRetryable() || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want non-retryable with %q", err, c.want)
			}
		})
	}
}
