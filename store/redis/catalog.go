package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
)

// The published catalog (docs/format/published-catalog.md): every version
// under its own immutable key, and a pointer naming the current one.
//
//	<prefix>:catalog:<version>   the document (features.Registry.PublishedCatalog)
//	<prefix>:catalog:current     the version readers serve

// CatalogKey is the key of one published catalog version.
func (s *Store) CatalogKey(version string) string { return s.opts.Prefix + ":catalog:" + version }

// CatalogPointerKey is the key naming the current catalog version.
func (s *Store) CatalogPointerKey() string { return s.opts.Prefix + ":catalog:current" }

// ErrNoCatalog is returned by CurrentCatalog when nothing was published
// under the store's prefix (run `starter apply`).
var ErrNoCatalog = errors.New("no catalog published")

// PublishCatalog stores the document of a catalog version, unless it is
// there already, and then points readers at it. The version key is written
// first and never changed, so a reader that follows the pointer always finds
// a whole document. changed is false when the pointer already named version:
// publishing the same catalog again writes nothing. A version key holding
// other bytes (two catalogs with one hash, or an edited key) is an error,
// and the pointer is left alone.
func (s *Store) PublishCatalog(ctx context.Context, version string, doc []byte) (changed bool, err error) {
	if version == "" || len(doc) == 0 {
		return false, fmt.Errorf("redis store: publish catalog: empty version or document")
	}
	key := s.CatalogKey(version)
	created, err := s.client.SetNX(ctx, key, doc, 0).Result()
	if err != nil {
		return false, fmt.Errorf("redis store: publish catalog %s: %w", key, err)
	}
	if !created {
		old, err := s.client.Get(ctx, key).Result()
		if err != nil {
			return false, fmt.Errorf("redis store: publish catalog %s: %w", key, err)
		}
		if old != string(doc) {
			return false, fmt.Errorf("redis store: publish catalog: %s holds another document than version %s: left alone", key, version)
		}
	}
	prev, err := s.client.Get(ctx, s.CatalogPointerKey()).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return false, fmt.Errorf("redis store: publish catalog: read %s: %w", s.CatalogPointerKey(), err)
	}
	if prev == version {
		return false, nil
	}
	if err := s.client.Set(ctx, s.CatalogPointerKey(), version, 0).Err(); err != nil {
		return false, fmt.Errorf("redis store: publish catalog: set %s: %w", s.CatalogPointerKey(), err)
	}
	return true, nil
}

// CurrentCatalog returns the version the pointer names; ErrNoCatalog when
// there is none. One round trip.
func (s *Store) CurrentCatalog(ctx context.Context) (string, error) {
	v, err := s.client.Get(ctx, s.CatalogPointerKey()).Result()
	if errors.Is(err, goredis.Nil) {
		return "", fmt.Errorf("redis store: %s: %w", s.CatalogPointerKey(), ErrNoCatalog)
	}
	if err != nil {
		return "", fmt.Errorf("redis store: read %s: %w", s.CatalogPointerKey(), err)
	}
	return v, nil
}

// CatalogDocument returns the published document of a version. One round
// trip.
func (s *Store) CatalogDocument(ctx context.Context, version string) ([]byte, error) {
	key := s.CatalogKey(version)
	b, err := s.client.Get(ctx, key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("redis store: catalog version %s: %s missing", version, key)
	}
	if err != nil {
		return nil, fmt.Errorf("redis store: read %s: %w", key, err)
	}
	return b, nil
}

// PublishRegistry publishes reg's catalog (features.Registry.PublishedCatalog)
// with PublishCatalog: what `starter apply` and `make dev` do.
func (s *Store) PublishRegistry(ctx context.Context, reg *features.Registry) (version string, changed bool, err error) {
	version, doc, err := reg.PublishedCatalog()
	if err != nil {
		return "", false, fmt.Errorf("redis store: %w", err)
	}
	changed, err = s.PublishCatalog(ctx, version, doc)
	return version, changed, err
}
