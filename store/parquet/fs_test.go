package parquet_test

import (
	"context"
	"io"
	"testing"

	"github.com/skewfree/skewfree/internal/fakegcs"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/store/parquet/gcsfs"
)

// onEachFS runs fn on a store in a fresh local folder and on one in a
// fresh gs:// prefix of an in-process fake Cloud Storage (the real client
// library): the store's behaviour must not depend on where it is kept.
func onEachFS(t *testing.T, fn func(t *testing.T, s *parquet.Store)) {
	t.Helper()
	t.Run("local", func(t *testing.T) {
		s, err := parquet.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		fn(t, s)
	})
	t.Run("gcs", func(t *testing.T) {
		f, _ := openGCS(t, "skewfree/offline")
		fn(t, parquet.OpenFS(f))
	})
}

// openGCS starts a fake Cloud Storage with bucket "b" and opens
// gs://b/<prefix> on it with a real client.
func openGCS(t testing.TB, prefix string) (*gcsfs.FS, *fakegcs.Server) {
	t.Helper()
	srv, err := fakegcs.Start("b")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	ctx := context.Background()
	c, err := srv.Client(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f, err := gcsfs.Open(ctx, "gs://b/"+prefix, gcsfs.Options{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	return f, srv
}

// put writes a file into the store's FS as another tool would.
func put(t *testing.T, s *parquet.Store, name string, data []byte) {
	t.Helper()
	if err := s.FS().WriteFile(context.Background(), name, parquet.Replace, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// get reads a file of the store's FS.
func get(t *testing.T, s *parquet.Store, name string) []byte {
	t.Helper()
	b, err := s.FS().ReadFile(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
