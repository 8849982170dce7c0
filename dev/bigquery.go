package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/dev/sample"
)

// The BigQuery history of `dev -cloud`: project and dataset on the
// emulator (goccy/bigquery-emulator).
const (
	devBigQueryProject = "skewfree-dev"
	devBigQueryDataset = "history"
	// envBigQueryEmulatorBin names the emulator binary, as for the tests
	// (internal/testenv); `make dev CLOUD=1` passes -bigquery-emulator.
	envBigQueryEmulatorBin = "SKEWFREE_BIGQUERY_EMULATOR"
	// bqLabels is the small entity table of the printed BigQuery
	// training-set command: the emulator slows sharply past tens of rows.
	bqLabels      = "labels-bigquery.csv"
	bqLabelsRows  = 20
	bqTrainingSet = "train-bigquery.parquet"
	// cloudDays is dev -cloud's default of -days, and bqFeatures what
	// the banner's --engine bigquery command joins (user_orders: a daily
	// view, a row per user and day): the emulator's queries slow sharply
	// with table size (the fraud_model service on a week of 1000 users,
	// ~140k rows of hourly user_activity, ran over 10 minutes without
	// finishing).
	cloudDays  = 2
	bqFeatures = "user_orders:order_count_7d,user_orders:spend_30d,user_orders:last_order_status"
)

// errNoEmulator says how to get the emulator: dev -cloud never skips
// BigQuery silently.
func errNoEmulator(bin string) error {
	where := "no -bigquery-emulator given (nor " + envBigQueryEmulatorBin + ")"
	if bin != "" {
		where = "the BigQuery emulator " + bin + " does not exist"
	}
	return fmt.Errorf("dev -cloud runs the BigQuery history on goccy/bigquery-emulator, but %s: "+
		"run `make dev CLOUD=1` (it builds the emulator with scripts/bigquery-emulator.sh; the first build takes 15-30 minutes, "+
		"later runs start at once), or build it with scripts/bigquery-emulator.sh and pass its path with -bigquery-emulator", where)
}

// bigQueryEmulator is a running emulator process started by dev.
type bigQueryEmulator struct {
	URL     string // http://127.0.0.1:port, what SKEWFREE_BIGQUERY_ENDPOINT takes
	cmd     *exec.Cmd
	exited  chan error
	logFile *os.File
}

// Dataset is project.dataset, what SKEWFREE_BIGQUERY takes.
func (b *bigQueryEmulator) Dataset() string { return devBigQueryProject + "." + devBigQueryDataset }

// startBigQuery starts the emulator binary bin with the dev project and
// dataset on free loopback ports, its log in dir, and waits until it
// serves the dataset. It keeps everything in memory (the emulator cannot
// reopen its own database file): each start is an empty history.
// checkEmulator reports a missing emulator binary (before anything starts).
func checkEmulator(bin string) error {
	if bin == "" {
		return errNoEmulator("")
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return errNoEmulator(bin)
	}
	return nil
}

func startBigQuery(ctx context.Context, bin, dir string, log *slog.Logger) (*bigQueryEmulator, error) {
	if err := checkEmulator(bin); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	grpcPort, err := freePort()
	for err == nil && grpcPort == port {
		grpcPort, err = freePort()
	}
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "bigquery-emulator.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--project="+devBigQueryProject, "--dataset="+devBigQueryDataset, "--host=127.0.0.1",
		"--port="+strconv.Itoa(port), "--grpc-port="+strconv.Itoa(grpcPort), "--log-level=warn")
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start the BigQuery emulator %s: %w", bin, err)
	}
	b := &bigQueryEmulator{URL: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, exited: make(chan error, 1), logFile: lf}
	go func() { b.exited <- cmd.Wait() }()
	probe := fmt.Sprintf("%s/bigquery/v2/projects/%s/datasets/%s", b.URL, devBigQueryProject, devBigQueryDataset)
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, probe, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-b.exited:
			b.exited <- err
			b.Stop()
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("the BigQuery emulator exited before answering: %v: %s", err, bytes.TrimSpace(out))
		case <-ctx.Done():
			b.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Stop()
			return nil, fmt.Errorf("the BigQuery emulator on %s did not answer within 60s (log: %s)", b.URL, logPath)
		}
	}
	log.Info("BigQuery emulator", "dataset", b.Dataset(), "SKEWFREE_BIGQUERY_ENDPOINT", b.URL, "log", logPath)
	return b, nil
}

// Stop ends the emulator.
func (b *bigQueryEmulator) Stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
	b.logFile.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// withBigQuery points cfg's BigQuery history at the emulator: the worker
// then appends every run to it, as SKEWFREE_BIGQUERY and
// SKEWFREE_BIGQUERY_ENDPOINT would.
func withBigQuery(cfg app.Config, b *bigQueryEmulator) app.Config {
	cfg.BigQuery, cfg.BigQueryEndpoint = b.Dataset(), b.URL
	return cfg
}

// writeBigQueryLabels writes bqLabels beside the sample CSV in state:
// bqLabelsRows of its rows, spread over its time range.
func writeBigQueryLabels(state string) (string, error) {
	in, err := os.ReadFile(filepath.Join(state, sample.EntitiesCSV))
	if err != nil {
		return "", err
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(in))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 2 {
		return "", errors.New("sample labels: empty")
	}
	out := []string{lines[0]}
	rows := lines[1:]
	step := max(len(rows)/bqLabelsRows, 1)
	for i := 0; i < len(rows) && len(out) <= bqLabelsRows; i += step {
		out = append(out, rows[i])
	}
	path := filepath.Join(state, bqLabels)
	return path, os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o644)
}

// bigQueryTrainingSetCommand is the banner's `training-set --engine
// bigquery` command against the emulator: the environment it needs, then
// the starter, run from the repository root.
func bigQueryTrainingSetCommand(state string, b *bigQueryEmulator) string {
	return fmt.Sprintf("SKEWFREE_BIGQUERY=%s SKEWFREE_BIGQUERY_ENDPOINT=%s go run ./starter training-set --engine bigquery --entities %s --features %s --out %s",
		b.Dataset(), b.URL, filepath.Join(state, bqLabels), bqFeatures, filepath.Join(state, bqTrainingSet))
}
