package main

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/push"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/store/parquet"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// The sample traffic is valid pushes that make the printed curl's users'
// fresh features move, and the banner prints that curl.
func TestTrafficFeedsTheFreshCurl(t *testing.T) {
	reg := demo.Registry()
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	online, err := redisstore.New(c, reg, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sources, err := parquet.OpenSources(filepath.Join(t.TempDir(), "raw"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	p, err := push.New(reg, sources, online, push.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 60 { // a minute of traffic
		if _, err := p.Push(context.Background(), trafficRequest(rng, now, "t-"+string(rune('a'+i%26))+string(rune('a'+i/26)))); err != nil {
			t.Fatal(err)
		}
	}
	r, err := serving.New(reg, online, serving.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	users := []string{demo.UserID(1), demo.UserID(2)}
	res, err := r.Get(context.Background(), []string{"user_live:page_views_5m"}, serving.Entities{"user_id": serving.StringKeys(users...)})
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range users {
		if v := res.Rows[i][0]; v.Status != serving.Present || v.Value.Int64() == 0 {
			t.Errorf("%s: page_views_5m %s (%s) after a minute of traffic, want > 0", u, v.Value, v.Status)
		}
	}
	text := banner(bannerInfo{Serving: "127.0.0.1:6566", Push: "127.0.0.1:6568", Users: users})
	if !strings.Contains(text, `"features":["user_live:page_views_5m"`) || !strings.Contains(text, "http://127.0.0.1:6568/push") {
		t.Errorf("banner lacks the fresh view's curl or the push service:\n%s", text)
	}
}
