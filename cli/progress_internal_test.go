package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/workflows"
)

// TestProgressIsPlainWhenNotATerminal: waiting on a backfill with its output
// going to a file or a buffer (a CI log) prints plain lines, no carriage
// returns, at most one per plainEvery while the count moves, one per
// plainQuiet while it does not, and a last line at the end.
func TestProgressIsPlainWhenNotATerminal(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var buf bytes.Buffer
	for _, tc := range []struct {
		name string
		w    interface{ Write([]byte) (int, error) }
		read func() string
	}{
		{"buffer", &buf, buf.String},
		{"file", file, func() string { b, _ := os.ReadFile(file.Name()); return string(b) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newProgress(tc.w, "backfill-v-x", 72)
			pp, ok := r.(*plainProgress)
			if !ok {
				t.Fatalf("reporter %T on a %s, want plain lines", r, tc.name)
			}
			clock := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
			pp.now = func() time.Time { return clock }
			// Polled every 500 ms like waitBackfill: 40 s of one window a
			// second, then 3 minutes stuck, then done.
			p := workflows.Progress{Total: 72}
			for i := range 80 {
				p.Done, p.Running = i/2, 4
				r.Update(p)
				clock = clock.Add(500 * time.Millisecond)
			}
			for range 360 {
				r.Update(p)
				clock = clock.Add(500 * time.Millisecond)
			}
			p.Done, p.Failed, p.Running = 70, 2, 0
			r.Finish(p)
			out := tc.read()
			if strings.Contains(out, "\r") {
				t.Fatalf("carriage returns in a non-terminal output:\n%q", out)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			// Moving: a line every 5 s (t = 0, 5, ..., 40 s: 9); stuck
			// from 40 s: one a minute (t = 100, 160 s: 2); the end: 1.
			if len(lines) != 12 {
				t.Fatalf("%d lines, want 12:\n%s", len(lines), out)
			}
			if want := "backfill backfill-v-x: 0/72 windows (0%): 0 done, 0 skipped, 0 failed, 0 elsewhere, 4 running, 0s"; lines[0] != want {
				t.Errorf("first line\n got %s\nwant %s", lines[0], want)
			}
			if want := "backfill backfill-v-x: 72/72 windows (100%): 70 done, 0 skipped, 2 failed, 0 elsewhere, 0 running, 3m40s"; lines[len(lines)-1] != want {
				t.Errorf("last line\n got %s\nwant %s", lines[len(lines)-1], want)
			}
		})
	}
}
