package app_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
)

// PublishCatalog (what starter apply and dev run) puts the registry's
// catalog under the project's prefix, where a reader builds the same
// registry from it; publishing it again is a no-op.
func TestPublishCatalog(t *testing.T) {
	srv := testenv.StartRedis(t)
	ctx := context.Background()
	cfg := app.Config{RedisURL: srv.URL(), Project: "team-a", Logger: slog.New(slog.DiscardHandler)}
	reg := demo.Registry()
	version, changed, err := app.PublishCatalog(ctx, reg, cfg)
	if err != nil || !changed || version != reg.CatalogVersion() {
		t.Fatalf("first publish: %s %v %v", version, changed, err)
	}
	again, changed, err := app.PublishCatalog(ctx, reg, cfg)
	if err != nil || changed || again != version {
		t.Fatalf("second publish: %s %v %v; want a no-op", again, changed, err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer c.Close()
	if cur, _ := c.Get(ctx, "team-a.sf:catalog:current").Result(); cur != version {
		t.Fatalf("pointer %q, want %s under the project's prefix", cur, version)
	}
	doc, _ := c.Get(ctx, "team-a.sf:catalog:"+version).Bytes()
	got, err := features.RegistryFromPublished(doc)
	if err != nil || got.Fingerprint("user_orders") != reg.Fingerprint("user_orders") {
		t.Fatalf("published registry: %v", err)
	}
	if _, _, err := app.PublishCatalog(ctx, reg, app.Config{RedisURL: "none"}); !errors.Is(err, app.ErrOnlineDisabled) {
		t.Fatalf("no online store: %v", err)
	}
}
