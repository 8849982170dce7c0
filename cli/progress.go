package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/skewfree/skewfree/workflows"
)

// progressReporter shows a backfill's progress while starter waits for it.
type progressReporter interface {
	Update(p workflows.Progress)
	Finish(p workflows.Progress)
}

// Plain progress lines: at most one per plainEvery, and then only when the
// count moved or plainQuiet passed without a line (so a log shows the wait
// is alive).
const (
	plainEvery = 5 * time.Second
	plainQuiet = time.Minute
)

// newProgress draws a progress bar on w when w is a terminal; on anything
// else (a file, a pipe, a CI log) a bar's carriage returns would pile up
// into thousands of lines, so it prints plain lines instead.
func newProgress(w io.Writer, id string, total int) progressReporter {
	if isTerminal(w) {
		return &barProgress{bar: progressbar.NewOptions(total, progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("windows"), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())}
	}
	return &plainProgress{w: w, id: id, total: total, now: time.Now}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

type barProgress struct{ bar *progressbar.ProgressBar }

func (b *barProgress) Update(p workflows.Progress) {
	_ = b.bar.Set(p.Settled())
}
func (b *barProgress) Finish(workflows.Progress) { _ = b.bar.Finish() }

type plainProgress struct {
	w       io.Writer
	id      string
	total   int
	now     func() time.Time
	start   time.Time
	last    time.Time // of the last line; zero before the first
	lastSum int
}

func (l *plainProgress) Update(p workflows.Progress) {
	now := l.now()
	if l.start.IsZero() {
		l.start = now
	}
	sum := p.Settled()
	if !l.last.IsZero() && (now.Sub(l.last) < plainEvery || (sum == l.lastSum && now.Sub(l.last) < plainQuiet)) {
		return
	}
	l.line(p, now)
}

func (l *plainProgress) Finish(p workflows.Progress) {
	now := l.now()
	if l.start.IsZero() {
		l.start = now
	}
	l.line(p, now)
}

func (l *plainProgress) line(p workflows.Progress, now time.Time) {
	total := max(p.Total, l.total)
	sum := p.Settled()
	pct := 0
	if total > 0 {
		pct = 100 * sum / total
	}
	fmt.Fprintf(l.w, "backfill %s: %d/%d windows (%d%%): %d done, %d skipped, %d failed, %d elsewhere, %d running, %s\n",
		l.id, sum, total, pct, p.Done, p.Skipped, p.Failed, p.Joined, p.Running, now.Sub(l.start).Round(time.Second))
	l.last, l.lastSum = now, sum
}
