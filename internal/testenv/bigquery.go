package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	gbigquery "cloud.google.com/go/bigquery"
	"google.golang.org/api/option"
)

// EnvBigQueryEmulator names the emulator binary to run; unset: the path
// scripts/bigquery-emulator.sh builds to.
const EnvBigQueryEmulator = "SKEWFREE_BIGQUERY_EMULATOR"

// BigQueryEmulatorVersion is the emulator release the tools module pins
// (tools/bigquery-emulator) and the cache folder is named after.
const BigQueryEmulatorVersion = "v0.6.6"

// BigQueryEmulatorPath is where the emulator binary is looked for:
// $SKEWFREE_BIGQUERY_EMULATOR, else the cache path of
// scripts/bigquery-emulator.sh
// (${SKEWFREE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/skewfree}/bigquery-emulator-<version>/bigquery-emulator).
func BigQueryEmulatorPath() string {
	if p := os.Getenv(EnvBigQueryEmulator); p != "" {
		return p
	}
	cache := os.Getenv("SKEWFREE_TOOLS_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "skewfree")
	}
	return filepath.Join(cache, "bigquery-emulator-"+BigQueryEmulatorVersion, "bigquery-emulator")
}

// BigQuery is one bigquery-emulator process owned by a test.
type BigQuery struct {
	URL     string // http://127.0.0.1:port, the REST endpoint
	Project string
	Dataset string
	Client  *gbigquery.Client
}

// StartBigQuery starts the BigQuery emulator (goccy/bigquery-emulator) with
// project and dataset on free loopback ports, waits until it answers, and
// returns it with a client of the real library pointed at it. Both are
// closed when tb ends. A missing binary skips the test, or fails it when
// CI=true (scripts/deps.sh builds it).
//
// The emulator keeps everything in memory: each call is an empty project.
func StartBigQuery(tb testing.TB, project, dataset string) *BigQuery {
	tb.Helper()
	bin := BigQueryEmulatorPath()
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		Missing(tb, "bigquery-emulator ("+bin+"; scripts/bigquery-emulator.sh builds it)")
	}
	port, grpcPort := freePort(tb, false), freePort(tb, false)
	for grpcPort == port {
		grpcPort = freePort(tb, false)
	}
	logf, err := os.Create(filepath.Join(tb.TempDir(), "bigquery-emulator.log"))
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	cmd := exec.Command(bin, "--project="+project, "--dataset="+dataset, "--host=127.0.0.1",
		"--port="+strconv.Itoa(port), "--grpc-port="+strconv.Itoa(grpcPort), "--log-level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("testenv: start bigquery-emulator: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = logf.Close()
	})
	bq := &BigQuery{URL: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Project: project, Dataset: dataset}
	// Ready when the dataset it was started with is served.
	probe := fmt.Sprintf("%s/bigquery/v2/projects/%s/datasets/%s", bq.URL, project, dataset)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(probe)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logf.Name())
			tb.Fatalf("testenv: bigquery-emulator exited before answering: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("testenv: bigquery-emulator on %s did not answer within 60s", bq.URL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	bq.Client = bq.NewClient(tb)
	return bq
}

// NewClient returns another client of the emulator (closed when tb ends),
// for tests that need one per process they stand for.
func (b *BigQuery) NewClient(tb testing.TB) *gbigquery.Client {
	tb.Helper()
	c, err := gbigquery.NewClient(context.Background(), b.Project,
		option.WithEndpoint(b.URL), option.WithoutAuthentication())
	if err != nil {
		tb.Fatalf("testenv: bigquery client: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}
