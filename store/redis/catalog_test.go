package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/internal/testenv"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// Publishing writes each version once, under its own key, before the
// pointer moves to it; publishing the current version again changes nothing;
// an older version can be pointed at again (a rollback); a version key
// holding other bytes is refused and the pointer left alone.
func TestPublishCatalog(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	s, err := redisstore.New(c, nil, redisstore.Options{Prefix: "team-a.sf"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CurrentCatalog(ctx); !errors.Is(err, redisstore.ErrNoCatalog) {
		t.Fatalf("nothing published: err %v, want ErrNoCatalog", err)
	}
	steps := []struct {
		version, doc string
		changed      bool
		wantErr      string
	}{
		{"aaaa", `{"a":1}`, true, ""},
		{"aaaa", `{"a":1}`, false, ""},
		{"bbbb", `{"b":2}`, true, ""},
		{"aaaa", `{"a":1}`, true, ""}, // rollback
		{"bbbb", `{"b":"other"}`, false, "holds another document than version bbbb"},
	}
	want := ""
	for i, st := range steps {
		changed, err := s.PublishCatalog(ctx, st.version, []byte(st.doc))
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Fatalf("step %d: err %v, want %q", i, err, st.wantErr)
			}
		} else if err != nil || changed != st.changed {
			t.Fatalf("step %d: changed %v err %v, want changed %v", i, changed, err, st.changed)
		} else {
			want = st.version
		}
		if got, err := s.CurrentCatalog(ctx); err != nil || got != want {
			t.Fatalf("step %d: current %q (%v), want %q", i, got, err, want)
		}
	}
	for v, doc := range map[string]string{"aaaa": `{"a":1}`, "bbbb": `{"b":2}`} {
		got, err := s.CatalogDocument(ctx, v)
		if err != nil || string(got) != doc {
			t.Fatalf("version %s: %q %v", v, got, err)
		}
	}
	keys, _ := c.Keys(ctx, "*").Result()
	if len(keys) != 3 || s.CatalogPointerKey() != "team-a.sf:catalog:current" || s.CatalogKey("aaaa") != "team-a.sf:catalog:aaaa" {
		t.Fatalf("keys %v", keys)
	}
	if ttl, _ := c.TTL(ctx, s.CatalogKey("aaaa")).Result(); ttl != -1 {
		t.Fatalf("a version key expires (%s): readers could lose the version they serve", ttl)
	}
	if _, err := s.CatalogDocument(ctx, "cccc"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing version: %v", err)
	}
}
