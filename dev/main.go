// Command dev runs the whole of Skewfree on one machine with nothing
// installed but Go (`make dev`): an embedded Temporal server with its Web UI,
// Redis, a local offline store, sample data, the worker, the schedules, a
// backfill of the last 7 days, and the reader service. Ctrl-C stops it all.
//
// State lives under .state/ (delete it to start over): Temporal's SQLite
// database, the raw data, the offline store, and Redis's dump when a
// redis-server is started here.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/catalog/web"
	"github.com/skewfree/skewfree/config"
	"github.com/skewfree/skewfree/dev/sample"
	"github.com/skewfree/skewfree/devserver"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/push"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/catalogsync"
	"github.com/skewfree/skewfree/serving/grpcapi"
	"github.com/skewfree/skewfree/serving/httpapi"
	"github.com/skewfree/skewfree/workflows"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, log)
	// Decide before stop(): stop cancels ctx, and every error would then
	// look like an interrupt (and exit 0).
	code := app.ExitCode(ctx, err)
	interrupted := err != nil && code == 0
	stop()
	// Ctrl-C is how a person stops dev, at any point: exit 0 (make would
	// print "Error 1" otherwise).
	switch {
	case interrupted:
		log.Info("stopped by interrupt", "while", err)
	case err != nil:
		fmt.Fprintln(os.Stderr, "dev:", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, log *slog.Logger) error {
	state := flag.String("state", ".state", "folder for all local state")
	temporalPort := flag.Int("temporal-port", 7233, "Temporal frontend port")
	uiPort := flag.Int("ui-port", 8233, "Temporal Web UI port")
	servingAddr := flag.String("serving-addr", "127.0.0.1:6566", "reader service address")
	grpcAddr := flag.String("grpc-addr", config.DefaultServingGRPCAddr, `reader service gRPC address; "" or none: no gRPC`)
	catalogAddr := flag.String("catalog-addr", web.DefaultAddr, "catalog web page address")
	pushAddr := flag.String("push-addr", "127.0.0.1:6568", "push service address (POST /push)")
	users := flag.Int("users", 1000, "sample users")
	days := flag.Int("days", 7, "days to backfill")
	cloud := flag.Bool("cloud", os.Getenv("CLOUD") == "1", "keep the offline store and raw data on an in-process fake Cloud Storage (gs://"+devBucket+"/...) and append every run to a BigQuery emulator, as on Google Cloud; also CLOUD=1")
	bqBin := flag.String("bigquery-emulator", os.Getenv(envBigQueryEmulatorBin), "with -cloud: the goccy/bigquery-emulator binary (scripts/bigquery-emulator.sh prints or builds it; $"+envBigQueryEmulatorBin+")")
	flag.Parse()
	if *cloud {
		// The BigQuery emulator slows sharply with table size: a cloud
		// stack keeps the history short unless told otherwise (fewer
		// users would fail the demo's null-rate checks).
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["days"] {
			*days = cloudDays
		}
	}

	abs, err := filepath.Abs(*state)
	if err != nil {
		return err
	}
	reg := demo.Registry()
	if *cloud {
		// Checked first: without the emulator binary, nothing starts.
		if err := checkEmulator(*bqBin); err != nil {
			return err
		}
	}

	log.Info("starting Temporal (embedded, SQLite)", "state", filepath.Join(abs, "temporal"))
	ts, err := devserver.Start(ctx, devserver.Options{
		StateDir: filepath.Join(abs, "temporal"), FrontendPort: *temporalPort, UIPort: *uiPort, Logger: log,
		SearchAttributes: app.SearchAttributes(),
	})
	if err != nil {
		return fmt.Errorf("%w (is another `make dev` or Temporal server running? try -temporal-port and -ui-port)", err)
	}
	defer ts.Stop()

	redisURL, stopRedis, err := startRedis(ctx, log, filepath.Join(abs, "redis"))
	if err != nil {
		return err
	}
	defer stopRedis()

	env := config.FromEnv(nil)
	cfg := app.Config{
		TemporalAddress: ts.FrontendAddr(), Namespace: ts.Namespace(), RedisURL: redisURL,
		Offline: "file://" + filepath.Join(abs, "offline"), Source: "file://" + filepath.Join(abs, "raw"), Logger: log,
		Project: env.Project, RedisPrefix: env.RedisPrefix, WorkerMetricsAddr: env.WorkerMetricsAddr,
	}
	emulator := ""
	var bq *bigQueryEmulator
	if *cloud {
		if bq, err = startBigQuery(ctx, *bqBin, filepath.Join(abs, "bigquery"), log); err != nil {
			return err
		}
		defer bq.Stop()
		gcs, err := startCloud(filepath.Join(abs, "gcs"), log)
		if err != nil {
			return err
		}
		defer gcs.Stop()
		emulator = gcs.Host()
		cfg.Offline, cfg.Source = "gs://"+devBucket+"/offline", "gs://"+devBucket+"/raw"
		cfg = withBigQuery(cfg, bq)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	stores, err := app.OpenStores(ctx, reg, cfg)
	if err != nil {
		return err
	}
	defer stores.Close()

	// Sample data through the end of today, so the newest windows are fresh.
	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	// (Re)generate when the raw data does not reach today, e.g. on a later day.
	_, err = stores.Sources.FS().List(ctx, "orders/date="+today.Format(time.DateOnly))
	regenerate := errors.Is(err, os.ErrNotExist)
	if regenerate {
		log.Info("generating sample data", "users", *users, "days", *days+1)
		frames, err := demo.Generate(demo.GenOptions{Users: *users, Products: 200, Days: *days + 1, Start: today.Add(-time.Duration(*days) * 24 * time.Hour)})
		if err != nil {
			return err
		}
		for _, name := range []string{"orders", "page_views"} {
			src, _ := reg.Source(name)
			if _, err := stores.Sources.Write(ctx, src, frames[name]); err != nil {
				return err
			}
		}
	}

	// A sample entity table (users, checkout times, a label) for the
	// training-set command printed below: from the second backfilled day to
	// a few hours ago, so every view of the service has history by then.
	if _, err := os.Stat(filepath.Join(abs, sample.EntitiesCSV)); regenerate || errors.Is(err, os.ErrNotExist) {
		if _, _, err := sample.WriteEntities(abs, *users, today.Add(-time.Duration(*days-1)*24*time.Hour), now.Add(-3*time.Hour)); err != nil {
			return err
		}
	}

	bqCommand := ""
	if bq != nil {
		if _, err := writeBigQueryLabels(abs); err != nil {
			return err
		}
		bqCommand = bigQueryTrainingSetCommand(*state, bq)
		if !regenerate {
			log.Warn("the BigQuery emulator starts empty each time: windows already in the offline store are not appended again; " +
				"remove " + filepath.Join(abs, "gcs") + " for a cloud stack whose BigQuery history holds every window")
		}
	}

	c, err := app.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	wm, err := app.StartWorkerMetrics(ctx, reg, stores.Offline, cfg.WorkerMetricsAddr, log)
	if err != nil {
		return err
	}
	defer wm.Close()
	w := app.NewMeteredWorker(c, reg, stores, cfg.Project, log, wm.Metrics)
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()
	changes, err := app.ApplyProject(ctx, c, reg, cfg.Project)
	if err != nil {
		return err
	}
	for _, ch := range changes {
		log.Info("schedule " + ch.String())
	}
	// starter apply publishes the catalog too.
	version, _, err := app.PublishCatalog(ctx, reg, cfg)
	if err != nil {
		return err
	}
	log.Info("catalog published", "version", version)

	// The reader service, as serving/server runs it: on the published
	// catalog, following the versions a `starter apply` publishes.
	served, err := catalogsync.Load(ctx, stores.Online)
	if err != nil {
		return err
	}
	coalesce, err := config.ServingCoalesceFromEnv(nil) // on unless SKEWFREE_SERVING_COALESCE=false
	if err != nil {
		return err
	}
	reader, err := serving.New(served, stores.Online, serving.Options{CacheEntries: 100_000, Logger: log, Coalesce: coalesce})
	if err != nil {
		return err
	}
	defer reader.Close()
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	follow, err := catalogsync.New(stores.Online, reader, catalogsync.Options{Registerer: metrics, Logger: log})
	if err != nil {
		return err
	}
	go func() { _ = follow.Run(ctx) }() // never fails: a failed check is logged and counted
	h, err := httpapi.New(served, reader, stores.Online, httpapi.Options{Logger: log, Registerer: metrics, Gatherer: metrics})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *servingAddr)
	if err != nil {
		return fmt.Errorf("reader service: %w (try -serving-addr)", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := httpapi.Serve(ctx, l, h, 5*time.Second); err != nil {
			log.Error("reader service", "error", err)
		}
	}()
	grpcServing := ""
	if !config.GRPCDisabled(*grpcAddr) {
		g, err := grpcapi.New(reader, stores.Online, grpcapi.Options{Logger: log, Registerer: metrics})
		if err != nil {
			return err
		}
		gl, err := net.Listen("tcp", *grpcAddr)
		if err != nil {
			return fmt.Errorf("reader service gRPC: %w (try -grpc-addr, or -grpc-addr none)", err)
		}
		grpcServing = gl.Addr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Serve(ctx, gl, 5*time.Second); err != nil {
				log.Error("reader service gRPC", "error", err)
			}
		}()
	}

	// The catalog page, as `starter catalog serve` runs it.
	catHandler, err := web.New(reg, web.Options{Runs: stores.Offline, Logger: log})
	if err != nil {
		return err
	}
	cl, err := net.Listen("tcp", *catalogAddr)
	if err != nil {
		return fmt.Errorf("catalog page: %w (try -catalog-addr)", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := httpapi.Serve(ctx, cl, catHandler, 5*time.Second); err != nil {
			log.Error("catalog page", "error", err)
		}
	}()

	// The push service, as push/server runs it, and sample traffic into
	// it: the fresh view user_live moves every second.
	pusher, err := push.New(reg, stores.Sources, stores.Online, push.Options{Logger: log})
	if err != nil {
		return err
	}
	pl, err := net.Listen("tcp", *pushAddr)
	if err != nil {
		return fmt.Errorf("push service: %w (try -push-addr)", err)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := httpapi.Serve(ctx, pl, push.Handler(pusher, push.HandlerOptions{Logger: log}), 5*time.Second); err != nil {
			log.Error("push service", "error", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := runTraffic(ctx, pusher, log); err != nil {
			log.Error("sample traffic stopped", "error", err)
		}
	}()

	log.Info("backfilling the last days of every view", "days", *days)
	if err := backfillAll(ctx, c, reg, workflows.Project(cfg.Project), *days, log); err != nil {
		return err
	}

	fmt.Print(banner(bannerInfo{
		UI: ts.UIURL(), Namespace: ts.Namespace(), Temporal: ts.FrontendAddr(), TaskQueue: workflows.Project(cfg.Project).TaskQueue(), Project: cfg.Project,
		Serving: l.Addr().String(), Push: pl.Addr().String(), GRPC: grpcServing, Catalog: cl.Addr().String(), RedisURL: redisURL, Offline: cfg.Offline, Users: []string{demo.UserID(1), demo.UserID(2)},
		From: today.Add(-48 * time.Hour), To: today,
		TrainingSet: trainingSetCommand(*state, cfg.Offline, emulator), LabelsCSV: filepath.Join(*state, sample.EntitiesCSV), LabelsParquet: sample.EntitiesParquet,
		BigQuery: cfg.BigQuery, BigQueryEndpoint: cfg.BigQueryEndpoint, BigQueryTrainingSet: bqCommand, BigQueryLabels: filepath.Join(*state, bqLabels),
	}))

	<-ctx.Done()
	log.Info("stopping")
	wg.Wait()
	return nil
}

// backfillAll runs one backfill per view over the last days and waits.
// Windows already stored (a restart on existing state) are skipped.
func backfillAll(ctx context.Context, c client.Client, reg *features.Registry, proj workflows.Project, days int, log *slog.Logger) error {
	var runs []client.WorkflowRun
	for _, v := range reg.Views() {
		// The newest window whose lateness has passed: a newer one would
		// wait on its timer and hold up the start.
		to := time.Now().UTC().Add(-v.Lateness).Truncate(v.Cadence.Duration())
		from := to.Add(-time.Duration(days) * 24 * time.Hour)
		in := workflows.BackfillInputFor(proj.InputFor(v, time.Time{}), from, to, 4)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: proj.BackfillID(v.Name, from, to), TaskQueue: proj.TaskQueue(),
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, workflows.BackfillWorkflow, in)
		if err != nil {
			return fmt.Errorf("backfill %s: %w", v.Name, err)
		}
		runs = append(runs, run)
	}
	for _, run := range runs {
		var p workflows.Progress
		if err := run.Get(ctx, &p); err != nil {
			return fmt.Errorf("%s: %w", run.GetID(), err)
		}
		log.Info("backfill done", "workflow", run.GetID(), "windows", p.Done, "skipped (already stored)", p.Skipped)
	}
	return nil
}

// startRedis picks the online store: SKEWFREE_REDIS_URL if set; else a
// redis-server started here when one is installed; else an embedded
// Redis-compatible server (miniredis), which is enough to try things but
// not to measure them.
func startRedis(ctx context.Context, log *slog.Logger, dir string) (string, func(), error) {
	if url := os.Getenv("SKEWFREE_REDIS_URL"); url != "" {
		return url, func() {}, nil
	}
	if bin, err := exec.LookPath("redis-server"); err == nil {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, err
		}
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "60 1", "--appendonly", "no")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			return "", nil, fmt.Errorf("start redis-server: %w", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		for i := 0; ; i++ {
			if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
				c.Close()
				break
			}
			if i > 100 {
				_ = cmd.Process.Kill()
				return "", nil, fmt.Errorf("redis-server on %s did not come up", addr)
			}
			time.Sleep(50 * time.Millisecond)
		}
		log.Info("started redis-server", "addr", addr)
		return "redis://" + addr, func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }, nil
	}
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		return "", nil, fmt.Errorf("embedded redis: %w", err)
	}
	log.Warn("no redis-server on PATH: using an embedded Redis-compatible server (install redis-server for real numbers)", "addr", m.Addr())
	return "redis://" + m.Addr(), m.Close, nil
}
