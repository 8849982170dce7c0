package gcsfs_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/store/parquet/gcsfs"
)

// A write whose upload succeeded but whose response was lost: the client
// retries it with the precondition it had (the old generation, or
// DoesNotExist) and gets 412. The object then holds what we wrote, so the
// write is done: no error, and no second upload changing the generation
// under readers. When the object holds something else (another writer
// came in between), Create reports ErrExist and Replace never reports
// success for content that is not ours without replacing it again.
func TestFSWriteLostResponse(t *testing.T) {
	cases := []struct {
		name     string
		mode     parquet.WriteMode
		existing string // content before the write; "" none
		theirs   string // another writer's content, written after our lost upload
		wantErr  error  // nil: success
		want     string // object content afterwards
	}{
		{name: "replace", mode: parquet.Replace, existing: "old", want: "ours"},
		{name: "replace of a new object", mode: parquet.Replace, want: "ours"},
		{name: "create", mode: parquet.Create, want: "ours"},
		{name: "create, then another writer", mode: parquet.Create, theirs: "theirs", wantErr: fs.ErrExist, want: "theirs"},
		{name: "replace, then another writer", mode: parquet.Replace, existing: "old", theirs: "theirs", want: "ours"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			var f *gcsfs.FS
			var armed, lost atomic.Bool
			var uploads atomic.Int32 // uploads of ours that reached the server and succeeded
			f, _ = fake(t, "", func(rt http.RoundTripper) http.RoundTripper {
				return roundTripFunc(func(r *http.Request) (*http.Response, error) {
					isUpload := r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/upload/")
					resp, err := rt.RoundTrip(r)
					if !isUpload || !armed.Load() || err != nil {
						return resp, err
					}
					if resp.StatusCode == http.StatusOK {
						uploads.Add(1)
					}
					if !lost.CompareAndSwap(false, true) {
						return resp, err
					}
					// The upload is stored; its response never arrives.
					resp.Body.Close()
					if c.theirs != "" {
						armed.Store(false)
						if err := write(t, f, "o.bin", parquet.Replace, c.theirs); err != nil {
							t.Error(err)
						}
						armed.Store(true)
					}
					return nil, syscall.ECONNRESET
				})
			})
			if c.existing != "" {
				if err := write(t, f, "o.bin", parquet.Replace, c.existing); err != nil {
					t.Fatal(err)
				}
			}
			armed.Store(true)
			err := write(t, f, "o.bin", c.mode, "ours")
			armed.Store(false)
			if !lost.Load() {
				t.Fatal("no response was lost")
			}
			switch {
			case c.wantErr == nil && err != nil:
				t.Fatalf("write: %v, want success", err)
			case c.wantErr != nil && !errors.Is(err, c.wantErr):
				t.Fatalf("write: %v, want %v", err, c.wantErr)
			}
			if c.theirs == "" && uploads.Load() != 1 {
				t.Fatalf("%d successful uploads, want 1 (the lost one; no rewrite)", uploads.Load())
			}
			b, err := f.ReadFile(ctx, "o.bin")
			if err != nil || string(b) != c.want {
				t.Fatalf("object %q, %v; want %q", b, err, c.want)
			}
		})
	}
}
