package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/skewfree/skewfree/features"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// ErrOnlineDisabled is returned by PublishCatalog when the configuration
// has no online store (RedisURL "none"): there is no reader to publish to.
var ErrOnlineDisabled = errors.New("online store disabled")

// PublishCatalog publishes reg's catalog in the project's online store,
// where reader services find it (docs/format/published-catalog.md):
// `starter apply` and `make dev` call it. Publishing the catalog that is
// already current changes nothing (changed false).
func PublishCatalog(ctx context.Context, reg *features.Registry, cfg Config) (version string, changed bool, err error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return "", false, err
	}
	if cfg.RedisURL == "none" {
		return "", false, fmt.Errorf("publish catalog: %w", ErrOnlineDisabled)
	}
	rc, err := redisstore.NewClient(cfg.RedisURL)
	if err != nil {
		return "", false, err
	}
	defer rc.Close()
	online, err := redisstore.New(rc, reg, redisstore.Options{Prefix: cfg.OnlinePrefix(), Logger: cfg.Logger})
	if err != nil {
		return "", false, err
	}
	version, changed, err = online.PublishRegistry(ctx, reg)
	if err != nil {
		return "", false, fmt.Errorf("publish catalog to %s: %w", redisstore.Redact(cfg.RedisURL), err)
	}
	return version, changed, nil
}
