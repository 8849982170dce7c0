package app

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/store/parquet/gcsfs"
)

// OpenOffline opens the offline store at url: gs://bucket/prefix on Cloud
// Storage (Application Default Credentials, STORAGE_EMULATOR_HOST honored),
// else a local folder (file://path or a path). The closer releases the
// Cloud Storage client (a no-op for a folder).
func OpenOffline(ctx context.Context, url string) (*parquet.Store, io.Closer, error) {
	if !strings.HasPrefix(url, "gs://") {
		s, err := parquet.Open(url)
		return s, nopCloser{}, err
	}
	f, err := gcsfs.Open(ctx, url, gcsfs.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("offline store: %w", err)
	}
	return parquet.OpenFS(f), f, nil
}

// OpenSources opens the raw sources at url, like OpenOffline.
func OpenSources(ctx context.Context, url string) (*parquet.Sources, io.Closer, error) {
	if !strings.HasPrefix(url, "gs://") {
		s, err := parquet.OpenSources(url)
		return s, nopCloser{}, err
	}
	f, err := gcsfs.Open(ctx, url, gcsfs.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("sources: %w", err)
	}
	return parquet.SourcesFS(f), f, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
