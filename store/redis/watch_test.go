package redis_test

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// TestWatchNoticesUnresponsiveServer: a server that stops answering while
// its connections stay open (SIGSTOP: the kernel keeps the TCP connection
// up, nothing replies) gives a subscriber no read error, ever. Watch's ping
// must notice within about two ping intervals and reset the caller, then
// report the subscription up again once the server answers.
func TestWatchNoticesUnresponsiveServer(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	pid := 0
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid <= 0 {
		t.Fatalf("no process_id in INFO server")
	}
	cont := func() { _ = syscall.Kill(pid, syscall.SIGCONT) }
	t.Cleanup(cont) // never leave the test's redis-server stopped

	// The pong timeout is well above the ping interval and above the
	// scheduling delays of a loaded machine: a healthy subscription is never
	// reset, and a short stall of the server is ridden out.
	const interval, pong = 100 * time.Millisecond, 1500 * time.Millisecond
	s, err := redisstore.New(c, demo.Registry(), redisstore.Options{Prefix: "w", PingInterval: interval, PongTimeout: pong})
	if err != nil {
		t.Fatal(err)
	}
	type sig struct {
		at    time.Time
		reset bool
	}
	got := make(chan sig, 100)
	go s.Watch(ctx, func(keys []string, reset bool) { got <- sig{time.Now(), reset} })
	next := func(want bool, within time.Duration) time.Time {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case g := <-got:
				if g.reset == want {
					return g.at
				}
			case <-deadline:
				t.Fatalf("no signal with reset=%v within %s", want, within)
			}
		}
	}
	next(true, 5*time.Second)  // at start: down
	next(false, 5*time.Second) // subscribed: up
	quiet := func(what string, d time.Duration) {
		t.Helper()
		select {
		case g := <-got:
			t.Fatalf("unexpected signal %+v %s", g, what)
		case <-time.After(d):
		}
	}
	// Quiet for several intervals: pings are answered, nothing is reset.
	quiet("on a healthy, quiet subscription", 5*interval)

	// A stall of several ping intervals, shorter than the pong timeout: no
	// reset (every reader dropping its cache at once would hit Redis just
	// as it recovers).
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * interval)
	cont()
	quiet("after a stall shorter than the pong timeout", pong)

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	at := next(true, pong+20*interval)
	t.Logf("unresponsive server noticed after %s", at.Sub(stopped).Round(time.Millisecond))
	if d := at.Sub(stopped); d < pong-interval {
		t.Errorf("reset %s after the server stopped, before the pong timeout %s", d, pong)
	}
	cont()
	next(false, 5*time.Second)
}
