package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/onlinecodec"
)

// publishSchema stores the names and types of v's features under its
// fingerprint, unless they are there already. Write calls it once per call,
// in its own round trip before the first batch, so no value can be read
// before the schema that explains it — on a cluster too, where the schema
// and the values live on different nodes. It has no expiry: a fingerprint's
// schema is small, never changes, and must outlive every value carrying it
// (TTL 0 values never expire).
func (s *Store) publishSchema(ctx context.Context, v *features.View, fingerprint string) error {
	key := onlinecodec.SchemaKey(s.opts.Prefix, v.Name, fingerprint)
	if err := s.client.SetNX(ctx, key, onlinecodec.AppendSchema(nil, v.Features()), 0).Err(); err != nil {
		return fmt.Errorf("publish schema %s: %w", key, err)
	}
	return nil
}

// Schema returns the names and types, in stored order, of the features in
// values of view written by the definition with fingerprint; found is false
// when no writer published one (values written before schemas existed, or a
// lost key). One round trip. Schemas never change, so callers may cache them.
func (s *Store) Schema(ctx context.Context, view, fingerprint string) (feats []features.Feature, found bool, err error) {
	key := onlinecodec.SchemaKey(s.opts.Prefix, view, fingerprint)
	raw, err := s.client.Get(ctx, key).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis store: read schema %s: %w", key, err)
	}
	feats, err = onlinecodec.DecodeSchema(raw)
	if err != nil {
		return nil, false, fmt.Errorf("redis store: schema %s: %w", key, err)
	}
	return feats, true, nil
}
