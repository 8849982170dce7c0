// Package testenv starts the real servers Skewfree's integration tests and
// benchmarks run against (a Redis, a Redis Cluster) on free loopback ports,
// and stops them when the test ends. Tests talk to real servers rather than
// fakes because what they check — Lua scripts, expiry, cluster slots,
// pub/sub — is exactly where fakes differ.
//
// When redis-server is not installed a test is skipped, unless CI=true: then
// it fails, so a CI machine missing a dependency cannot go green by skipping.
package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Missing skips tb, or fails it when the CI environment variable is "true".
func Missing(tb testing.TB, what string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("testenv: %s not found and CI=true; run scripts/deps.sh", what)
	}
	tb.Skipf("testenv: %s not found; run scripts/deps.sh to install it", what)
}

func lookPath(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, name)
	}
	return p
}

// Redis is one redis-server process owned by a test.
type Redis struct {
	Addr string // 127.0.0.1:port

	tb      testing.TB
	bin     string
	port    int
	dir     string
	cluster bool

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartRedis starts a redis-server without persistence on a free loopback
// port and stops it when tb ends.
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	r := &Redis{tb: tb, bin: lookPath(tb, "redis-server"), port: freePort(tb, false), dir: tb.TempDir()}
	r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	tb.Cleanup(r.Stop)
	r.Start()
	return r
}

// URL is the server's address as a SKEWFREE_REDIS_URL.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// Start (re)starts the server on its port and waits until it answers PING.
func (r *Redis) Start() {
	r.tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	args := []string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--logfile", "redis.log", "--loglevel", "warning"}
	if r.cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
	}
	cmd := exec.Command(r.bin, args...)
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		r.tb.Fatalf("testenv: start redis-server: %v", err)
	}
	r.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		if reply, err := Command(r.Addr, "PING"); err == nil && reply == "+PONG" {
			return
		}
		if time.Now().After(deadline) {
			r.tb.Fatalf("testenv: redis-server on %s did not answer PING within 10s", r.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server; Start brings it back on the same port. Data is lost
// (no persistence), which the tests rely on.
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// StartRedisCluster starts n cluster-enabled redis-servers (no replicas),
// joins them with `redis-cli --cluster create` and waits until the cluster is
// up. It returns their addresses.
func StartRedisCluster(tb testing.TB, n int) []string {
	tb.Helper()
	bin := lookPath(tb, "redis-server")
	cli := lookPath(tb, "redis-cli")
	addrs := make([]string, n)
	for i := range addrs {
		r := &Redis{tb: tb, bin: bin, port: freePort(tb, true), dir: tb.TempDir(), cluster: true}
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
		tb.Cleanup(r.Stop)
		r.Start()
		addrs[i] = r.Addr
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, a := range addrs {
		for {
			reply, err := Command(a, "CLUSTER", "INFO")
			if err == nil && strings.Contains(reply, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("testenv: cluster node %s not ready within 20s: %q %v", a, reply, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return addrs
}

// freePort returns a loopback port that is free now; with bus, port+10000
// (the cluster bus port) is free too.
func freePort(tb testing.TB, bus bool) int {
	tb.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("testenv: listen: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !bus {
			return port
		}
		if port+10000 > 65535 {
			continue
		}
		if lb, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000)); err == nil {
			_ = lb.Close()
			return port
		}
	}
	tb.Fatalf("testenv: no free port found")
	return 0
}

// Command sends one command to a Redis at addr in RESP and returns its reply
// as text ("+PONG", a bulk string's contents, "-ERR ..."). It lets the
// helpers wait for servers without depending on a client library.
func Command(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	rd := bufio.NewReader(c)
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "$") {
		return line, nil
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 {
		return line, err
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(rd, buf); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
