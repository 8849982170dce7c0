package cli

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
)

// After the schedules, apply publishes the catalog and says what it did:
// published once, unchanged when applied again, skipped without an online
// store.
func TestApplyPublishesTheCatalog(t *testing.T) {
	srv := testenv.StartRedis(t)
	reg := demo.Registry()
	run := func(cfg app.Config) string {
		t.Helper()
		var out strings.Builder
		cmd := &cobra.Command{}
		cmd.SetContext(context.Background())
		cmd.SetOut(&out)
		if err := publishCatalog(cmd, reg, cfg); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	cfg := app.Config{RedisURL: srv.URL(), Logger: slog.New(slog.DiscardHandler)}
	v := reg.CatalogVersion()
	if got := run(cfg); got != "catalog "+v+" published for readers\n" {
		t.Fatalf("first apply: %q", got)
	}
	if got := run(cfg); got != "catalog "+v+" unchanged\n" {
		t.Fatalf("second apply: %q", got)
	}
	if got := run(app.Config{RedisURL: "none"}); got != "catalog not published: no online store\n" {
		t.Fatalf("no online store: %q", got)
	}
}
