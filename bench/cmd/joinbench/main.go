// Command joinbench compares Skewfree's point-in-time training-set join
// (trainingset.Build) with DuckDB's ASOF join over the same offline store.
//
// It generates (once, cached in -data) an offline store written by our own
// Parquet writer and an entity table, then runs each engine -runs times, each
// run in a child process of its own so that wall time and peak RSS are per
// engine, checks that every DuckDB output agrees with ours value by value
// (and, on a sample and on every disagreement, with the contract computed by
// brute force), and prints a table with the ratios ours/DuckDB.
//
//	cd bench && go run ./cmd/joinbench [-keys 100000 -days 100 -entities 1000000]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

type config struct {
	data     string
	seed     uint64
	keys     int
	days     int
	entities int
	ttl      time.Duration
	runs     int
	procs    int
	sample   int
	verbose  bool
	engines  []string
	mode     string // internal: run one engine and report
}

func main() {
	var c config
	flag.StringVar(&c.data, "data", "data", "data dir: generated data set (reused when its parameters match) and outputs")
	flag.Uint64Var(&c.seed, "seed", 1, "generator seed")
	flag.IntVar(&c.keys, "keys", 100_000, "users (rows per daily window)")
	flag.IntVar(&c.days, "days", 100, "daily windows of history")
	flag.IntVar(&c.entities, "entities", 1_000_000, "entity rows")
	flag.DurationVar(&c.ttl, "ttl", 7*24*time.Hour, "the view's TTL")
	flag.IntVar(&c.runs, "runs", 3, "runs per engine")
	flag.IntVar(&c.procs, "procs", 2, "GOMAXPROCS of our join (DuckDB keeps its default threads)")
	flag.IntVar(&c.sample, "sample", 20_000, "random rows also checked against the contract by brute force")
	flag.BoolVar(&c.verbose, "v", false, "debug logging")
	engines := flag.String("engines", strings.Join([]string{engineOurs, engineDuckDB, engineDuckDBArgMax}, ","),
		"engines to run, comma-separated: "+engineOurs+", "+strings.Join(duckEngines, ", ")+
			" ("+engineDuckDBNaive+" is deliberately wrong: no tie-break, no TTL)")
	flag.StringVar(&c.mode, "mode", "", "internal: run one engine in this process and report on stdout")
	flag.Parse()
	c.engines = strings.Split(*engines, ",")

	level := slog.LevelInfo
	if c.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	if c.mode != "" {
		err = child(ctx, log, c)
	} else {
		err = run(ctx, log, c, os.Stdout)
	}
	if err != nil {
		log.Error("joinbench failed", "err", err)
		os.Exit(1)
	}
}

// childReport is what a child prints on stdout.
type childReport struct {
	Elapsed time.Duration `json:"elapsed_ns"`
}

// child runs one engine once and reports the join's own wall time.
func child(ctx context.Context, log *slog.Logger, c config) error {
	d := dataset{dir: c.data}
	t0 := time.Now()
	var err error
	if c.mode == engineOurs {
		err = runOurs(ctx, log, d, c.ttl)
	} else {
		err = runDuckDB(ctx, log, d, c.ttl, c.mode)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(childReport{Elapsed: time.Since(t0)})
}

// measurement is one child run.
type measurement struct {
	join    time.Duration // measured by the child: open inputs to output written
	process time.Duration // the child process, start to exit
	cpu     time.Duration // user + system time of the child
	maxRSS  int64         // bytes
}

// runChild re-executes this binary in -mode engine and measures it.
func runChild(ctx context.Context, c config, engine string) (measurement, error) {
	exe, err := os.Executable()
	if err != nil {
		return measurement{}, err
	}
	args := []string{"-mode", engine, "-data", c.data, "-ttl", c.ttl.String()}
	if c.verbose {
		args = append(args, "-v")
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = os.Environ()
	if engine == engineOurs {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(c.procs))
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return measurement{}, fmt.Errorf("%s run: %w", engine, err)
	}
	m := measurement{process: time.Since(t0)}
	var rep childReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return measurement{}, fmt.Errorf("%s run: bad report %q: %w", engine, out.String(), err)
	}
	m.join = rep.Elapsed
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return measurement{}, errors.New("no rusage for the child on this platform")
	}
	m.maxRSS = ru.Maxrss * 1024 // KiB on Linux
	m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return m, nil
}

func run(ctx context.Context, log *slog.Logger, c config, stdout io.Writer) error {
	if c.keys < 1 || c.days < 1 || c.entities < 1 || c.runs < 1 {
		return errors.New("-keys, -days, -entities and -runs must be positive")
	}
	if len(c.engines) < 2 || c.engines[0] != engineOurs {
		return fmt.Errorf("-engines must start with %s and name at least one DuckDB engine", engineOurs)
	}
	for _, e := range c.engines[1:] {
		if !slices.Contains(duckEngines, e) {
			return fmt.Errorf("unknown engine %q (want one of %s)", e, strings.Join(duckEngines, ", "))
		}
	}
	d := dataset{dir: c.data}
	p := params{Version: genVersion, Seed: c.seed, Keys: c.keys, Days: c.days, Entities: c.entities, TTL: c.ttl}
	if err := ensureData(ctx, log, d, p); err != nil {
		return fmt.Errorf("data set: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(d.out(engineOurs)), 0o755); err != nil {
		return err
	}

	engines := c.engines
	results := map[string][]measurement{}
	fmt.Fprintf(stdout, "load average before the runs: %s\n", loadAvg())
	for i := range c.runs {
		// Alternate the order, so no engine always runs right after the
		// same other one.
		order := slices.Clone(engines)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, eng := range order {
			if err := os.Remove(d.out(eng)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			m, err := runChild(ctx, c, eng)
			if err != nil {
				return err
			}
			log.Info("run", "engine", eng, "n", i+1, "join", m.join.Round(time.Millisecond),
				"process", m.process.Round(time.Millisecond), "cpu", m.cpu.Round(time.Millisecond),
				"max_rss_mib", fmt.Sprintf("%.1f", mib(m.maxRSS)), "load", loadAvg())
			results[eng] = append(results[eng], m)
		}
	}

	fmt.Fprintf(stdout, "load average after the runs: %s\n", loadAvg())
	mismatches, err := check(ctx, log, c, d, stdout)
	if err != nil {
		return fmt.Errorf("correctness check: %w", err)
	}
	printTable(stdout, c, results)
	if mismatches > 0 {
		return fmt.Errorf("%d feature values differ between %s and DuckDB", mismatches, engineOurs)
	}
	return nil
}

// check compares every DuckDB output with ours, then checks every
// disagreement (up to 10000 rows) and a random sample of rows against the
// contract; it returns the number of mismatched values.
func check(ctx context.Context, log *slog.Logger, c config, d dataset, w io.Writer) (int, error) {
	reg, err := newRegistry(c.ttl)
	if err != nil {
		return 0, err
	}
	feats := viewFeatures(reg)
	tables := make([]*table, len(c.engines))
	for i, e := range c.engines {
		if tables[i], err = readTable(d.out(e), feats); err != nil {
			return 0, err
		}
	}
	ours := tables[0]
	fmt.Fprintf(w, "\ncorrectness: %d rows x %d features, each DuckDB output compared with ours\n", ours.len(), len(featureNames))
	var all []mismatch
	total := 0
	for i, e := range c.engines[1:] {
		ms, err := compareTables(ours, tables[i+1], e)
		if err != nil {
			return 0, err
		}
		rows := map[int]bool{}
		for _, m := range ms {
			rows[m.row] = true
		}
		fmt.Fprintf(w, "  %s vs %s: %d mismatched values in %d rows\n", engineOurs, e, len(ms), len(rows))
		printMismatches(w, ms, ours)
		all = append(all, ms...)
		if e != engineDuckDBNaive {
			total += len(ms)
		}
	}
	rows := rowsToCheck(all, 10_000, c.sample, ours.len(), c.seed)
	log.Info("checking rows against the contract by brute force", "rows", len(rows))
	v, err := checkContract(ctx, d, c.ttl, feats, rows, c.engines, tables)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(w, "contract check (T-ttl <= event_timestamp <= T, greatest event_timestamp, then greatest created_timestamp),\n"+
		"  by brute force over the history, on %d rows (every mismatch, up to 10000, plus %d random):\n", v.rows, c.sample)
	for i, e := range c.engines {
		fmt.Fprintf(w, "  %-15s wrong on %d rows\n", e, v.wrong[i])
	}
	fmt.Fprintf(w, "  %d rows ambiguous (exact (event, created) ties with different values)\n", v.ambiguous)
	for _, e := range v.examples {
		fmt.Fprintln(w, "  "+e)
	}
	return total, nil
}

func printTable(w io.Writer, c config, res map[string][]measurement) {
	type row struct {
		join, process, cpu time.Duration
		rss                int64
	}
	sum := map[string]row{}
	for _, e := range c.engines {
		ms := res[e]
		r := row{
			join:    median(ms, func(m measurement) time.Duration { return m.join }),
			process: median(ms, func(m measurement) time.Duration { return m.process }),
			cpu:     median(ms, func(m measurement) time.Duration { return m.cpu }),
		}
		for _, m := range ms {
			r.rss = max(r.rss, m.maxRSS)
		}
		sum[e] = r
	}
	fmt.Fprintf(w, "\njoin of %d entity rows against %d history rows (%d users x %d daily windows), TTL %s, %d runs per engine, GOMAXPROCS=%d for %s, DuckDB default threads\n",
		c.entities, c.keys*c.days, c.keys, c.days, c.ttl, c.runs, c.procs, engineOurs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\tmedian join wall\tmedian process wall\tmedian CPU (user+sys)\tpeak RSS (max of runs)\tjoin walls\t")
	for _, e := range c.engines {
		r := sum[e]
		var all []string
		for _, m := range res[e] {
			all = append(all, fmt.Sprintf("%.2f", m.join.Seconds()))
		}
		fmt.Fprintf(tw, "%s\t%.2f s\t%.2f s\t%.2f s\t%.1f MiB\t%s\t\n", e, r.join.Seconds(), r.process.Seconds(), r.cpu.Seconds(), mib(r.rss), strings.Join(all, " "))
	}
	o := sum[engineOurs]
	for _, e := range c.engines[1:] {
		d := sum[e]
		fmt.Fprintf(tw, "%s / %s\t%.2fx\t%.2fx\t%.2fx\t%.2fx\t\t\n", engineOurs, e,
			o.join.Seconds()/d.join.Seconds(), o.process.Seconds()/d.process.Seconds(), o.cpu.Seconds()/d.cpu.Seconds(), float64(o.rss)/float64(d.rss))
	}
	tw.Flush()
}

func median(ms []measurement, f func(measurement) time.Duration) time.Duration {
	ds := make([]time.Duration, len(ms))
	for i, m := range ms {
		ds[i] = f(m)
	}
	slices.Sort(ds)
	if n := len(ds); n%2 == 0 {
		return (ds[n/2-1] + ds[n/2]) / 2
	}
	return ds[len(ds)/2]
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// loadAvg is the 1, 5 and 15 minute load averages: the machine is shared,
// so a busy neighbour shows here.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
