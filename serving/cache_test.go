package serving_test

import (
	"context"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/serving"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// waitLive reads key until the cache answers it, i.e. the reader's
// subscription is up and caching.
func waitLive(t *testing.T, r *serving.Reader, ref, key string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		before := r.Stats().CacheHits
		if _, err := r.Get(context.Background(), []string{ref}, serving.Entities{"user_id": serving.StringKeys(key)}); err != nil {
			t.Fatal(err)
		}
		if r.Stats().CacheHits > before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("reader never cached: %+v", r.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCacheSetRacingInvalidation forces the interleaving in which a value
// read from Redis is about to be cached when the signal of a newer write
// arrives and is handled: the older value must not stay cached.
func TestCacheSetRacingInvalidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	const ref = "user_orders:order_count_7d"
	e.write(t, "user_orders", serving.StringKeys("u1"), now.Add(-2*time.Hour), 1)
	k1, _ := e.store.Key("user_orders", features.Key{Str: "u1"})

	handled := make(chan struct{}, 1)
	var once sync.Once
	r, err := serving.NewWithHooks(e.reg, e.store, serving.Options{CacheEntries: 100, CacheTTL: time.Hour},
		func(key string) {
			if key != k1 {
				return
			}
			once.Do(func() {
				// The read saw mark 1; a newer write lands and its signal is
				// handled before the read's value reaches the cache.
				e.write(t, "user_orders", serving.StringKeys("u1"), now.Add(-time.Hour), 2)
				select {
				case <-handled:
				case <-time.After(5 * time.Second):
					t.Error("the write's signal was never handled")
				}
			})
		},
		func(keys []string, reset bool) {
			if slices.Contains(keys, k1) {
				handled <- struct{}{}
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitLive(t, r, ref, "someone-else")

	get := func() serving.FeatureValue {
		t.Helper()
		res, err := r.Get(ctx, []string{ref}, serving.Entities{"user_id": serving.StringKeys("u1")})
		if err != nil {
			t.Fatal(err)
		}
		return res.Rows[0][0]
	}
	if v := get(); v.Value.Int64() != 1000 {
		t.Fatalf("first read %v, want mark 1 (read before the write)", v)
	}
	for range 3 {
		if v := get(); v.Value.Int64() != 2000 {
			t.Fatalf("read %v after the write's signal was handled, want mark 2: the older value stayed cached", v)
		}
	}
}

// blackholeProxy forwards TCP connections to a server until blackhole is
// called: from then on the connections open at that moment stay open but
// carry nothing either way (a half-open connection, as after a dead NAT
// entry or a silently dropped peer); new connections work.
type blackholeProxy struct {
	l  net.Listener
	to string

	mu    sync.Mutex
	conns []*proxied
}

type proxied struct {
	mu   sync.Mutex
	dead bool
}

func (p *proxied) isDead() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.dead }

func startProxy(t *testing.T, to string) *blackholeProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackholeProxy{l: l, to: to}
	var conns []net.Conn
	var cmu sync.Mutex
	var pipes sync.WaitGroup
	closed := false
	t.Cleanup(func() {
		l.Close()
		cmu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
		// Every pipe ends once its connections are closed, blackholed
		// or not: one that kept looping would spin a core for the rest of
		// the test binary.
		done := make(chan struct{})
		go func() { pipes.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("proxy pipes still running 5s after their connections were closed")
		}
	})
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			cmu.Lock()
			if closed {
				cmu.Unlock()
				in.Close()
				out.Close()
				return
			}
			conns = append(conns, in, out)
			pipes.Add(2)
			cmu.Unlock()
			pc := &proxied{}
			p.mu.Lock()
			p.conns = append(p.conns, pc)
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if pc.isDead() {
						if err != nil { // closed (by the test's cleanup): stop
							return
						}
						continue // swallow: nothing gets through, nothing is closed
					}
					if n > 0 {
						if _, err := dst.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						if err == io.EOF {
							dst.Close()
						}
						return
					}
				}
			}
			go func() { defer pipes.Done(); pipe(out, in) }()
			go func() { defer pipes.Done(); pipe(in, out) }()
		}
	}()
	return p
}

func (p *blackholeProxy) addr() string { return p.l.Addr().String() }

func (p *blackholeProxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.mu.Lock()
		c.dead = true
		c.mu.Unlock()
	}
}

// TestCacheDroppedWhileSubscriptionHalfOpen: when the write signal's
// connection goes half-open, no read error ever says so and the signals of
// new writes are lost. The subscription's ping must notice, and the reader
// must drop its cache and read Redis until the subscription is back, rather
// than serve a replaced value for the whole cache TTL.
func TestCacheDroppedWhileSubscriptionHalfOpen(t *testing.T) {
	e := newEnv(t) // e.store writes to Redis directly
	proxy := startProxy(t, e.srv.Addr)
	// Timeouts well above what -race on two loaded cores can stall a
	// healthy read for, well below the test's deadline.
	c := goredis.NewClient(&goredis.Options{Addr: proxy.addr(), MaxRetries: -1, ReadTimeout: time.Second, DialTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	rs, err := redisstore.New(c, e.reg, redisstore.Options{Prefix: "test", PingInterval: 100 * time.Millisecond, PongTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r, err := serving.New(e.reg, rs, serving.Options{CacheEntries: 100, CacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const ref = "user_orders:order_count_7d"
	now := time.Now().UTC()
	e.write(t, "user_orders", serving.StringKeys("u1"), now.Add(-2*time.Hour), 1)
	waitLive(t, r, ref, "u1") // u1 (mark 1) is cached

	proxy.blackhole()
	start := time.Now()
	e.write(t, "user_orders", serving.StringKeys("u1"), now.Add(-time.Hour), 2) // its signal is lost
	deadline := start.Add(15 * time.Second)
	for {
		res, err := r.Get(context.Background(), []string{ref}, serving.Entities{"user_id": serving.StringKeys("u1")})
		if err == nil && res.Rows[0][0].Value.Int64() == 2000 {
			break
		}
		if time.Now().After(deadline) {
			var got any = "no result"
			if err == nil {
				got = res.Rows[0][0]
			}
			t.Fatalf("still serving %v (err %v) %s after the subscription went half-open", got, err, time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("new value served %s after the subscription went half-open", time.Since(start).Round(time.Millisecond))
	// The subscription comes back over a new connection, and with it the cache.
	waitLive(t, r, ref, "u1")
}
