package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/internal/testenv"
)

// The reader service coalesces concurrent requests' Redis round trips by
// default; SKEWFREE_SERVING_COALESCE=false or -coalesce=false turns it
// off, and a value that is not a boolean is refused, naming the variable.
func TestServiceCoalescesByDefault(t *testing.T) {
	srv := testenv.StartRedis(t)
	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr, PoolSize: 64})
	t.Cleanup(func() { client.Close() })
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want bool
	}{
		{"default", nil, nil, true},
		{"env off", map[string]string{"SKEWFREE_SERVING_COALESCE": "false"}, nil, false},
		{"flag overrides env", map[string]string{"SKEWFREE_SERVING_COALESCE": "false"}, []string{"-coalesce"}, true},
		{"flag off", nil, []string{"-coalesce=false"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-redis", srv.URL(), "-registry", "demo", "-cache-entries", "0"}, c.args...)
			s, err := parseSettings(args, func(k string) string { return c.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			svc, err := newService(context.Background(), s, client, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer svc.reader.Close()
			// 64 clients at once, until a round trip was shared (or 3s).
			deadline := time.Now().Add(3 * time.Second)
			for round := 0; svc.reader.Stats().CoalescedFetches == 0 && time.Now().Before(deadline); round++ {
				var wg sync.WaitGroup
				for i := range 64 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						body := fmt.Sprintf(`{"features":["user_orders:spend_30d"],"entities":{"user_id":["u%d-%d"]}}`, round, i)
						rec := httptest.NewRecorder()
						svc.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/get-online-features", strings.NewReader(body)))
						if rec.Code != http.StatusOK {
							t.Errorf("%d %s", rec.Code, rec.Body)
						}
					}()
				}
				wg.Wait()
			}
			if got := svc.reader.Stats().CoalescedFetches > 0; got != c.want {
				t.Errorf("coalesced fetches %d, want coalescing %v", svc.reader.Stats().CoalescedFetches, c.want)
			}
			rec := httptest.NewRecorder()
			svc.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if !strings.Contains(rec.Body.String(), "skewfree_serving_coalesced_fetches_total") {
				t.Error("/metrics lacks skewfree_serving_coalesced_fetches_total")
			}
		})
	}
	_, err := parseSettings(nil, func(k string) string { return map[string]string{"SKEWFREE_SERVING_COALESCE": "maybe"}[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SKEWFREE_SERVING_COALESCE") {
		t.Errorf("bad SKEWFREE_SERVING_COALESCE: err %v", err)
	}
	if _, err := parseSettings([]string{"-coalesce=false"}, func(k string) string { return map[string]string{"SKEWFREE_SERVING_COALESCE": "maybe"}[k] }, io.Discard); err != nil {
		t.Errorf("a flag overrides a bad SKEWFREE_SERVING_COALESCE: %v", err)
	}
}
