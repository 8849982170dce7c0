package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/internal/fakegcs"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/store/parquet/gcsfs"
)

// An output uploaded to gs:// while another writer replaces the same
// object (two retrains writing one --out) is uploaded whole: the replace
// that lost the race retries with the file from its start, never with
// what is left of a read-once stream (an empty object reported done).
func TestStageOutputUploadsWholeAfterARace(t *testing.T) {
	ctx := context.Background()
	srv, err := fakegcs.Start("b")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	direct, err := gcsfs.Open(ctx, "gs://b", gcsfs.Options{Client: must(srv.Client(ctx, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	put := func(data string) {
		t.Helper()
		if err := direct.WriteFile(ctx, "out/train.parquet", parquet.Replace, func(w io.Writer) error {
			_, err := io.WriteString(w, data)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	put("an earlier training set")
	// The command's client goes through a proxy that, just before its
	// first conditional upload, lets another writer replace the object.
	var armed, raced atomic.Bool
	target, _ := url.Parse("http://" + srv.Host())
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if armed.Load() && r.Method == http.MethodPost && strings.Contains(r.URL.RawQuery, "ifGenerationMatch") && raced.CompareAndSwap(false, true) {
			put("theirs")
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(front.URL, "http://"))

	local, commit, cleanup, err := app.StageOutput(ctx, "gs://b/out/train.parquet", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	want := strings.Repeat("ours, whole; ", 1000)
	if err := os.WriteFile(local, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	if err := commit(ctx); err != nil {
		t.Fatal(err)
	}
	if !raced.Load() {
		t.Fatal("the race was not staged")
	}
	if got, err := direct.ReadFile(ctx, "out/train.parquet"); err != nil || string(got) != want {
		t.Fatalf("gs://b/out/train.parquet holds %d bytes (%v), want our %d", len(got), err, len(want))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
