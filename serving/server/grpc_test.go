package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/config"
)

// The gRPC address: loopback by default, from the environment, overridden
// by -grpc-addr, and off with "none" or an empty flag.
func TestGRPCAddrSettings(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		enabled bool
	}{
		{name: "default", want: "127.0.0.1:6567", enabled: true},
		{name: "environment", env: map[string]string{"SKEWFREE_SERVING_GRPC_ADDR": ":7000"}, want: ":7000", enabled: true},
		{name: "flag overrides", env: map[string]string{"SKEWFREE_SERVING_GRPC_ADDR": ":7000"}, args: []string{"-grpc-addr", "127.0.0.1:0"}, want: "127.0.0.1:0", enabled: true},
		{name: "none in the environment", env: map[string]string{"SKEWFREE_SERVING_GRPC_ADDR": "none"}, want: "none"},
		{name: "empty flag", args: []string{"-grpc-addr", ""}, want: ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := parseSettings(c.args, func(k string) string { return c.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if s.cfg.ServingGRPCAddr != c.want || config.GRPCDisabled(s.cfg.ServingGRPCAddr) == c.enabled {
				t.Fatalf("gRPC addr %q (disabled %v), want %q (enabled %v)", s.cfg.ServingGRPCAddr, config.GRPCDisabled(s.cfg.ServingGRPCAddr), c.want, c.enabled)
			}
			if s.cfg.ServingAddr != ":6566" {
				t.Fatalf("HTTP addr %q moved", s.cfg.ServingAddr)
			}
		})
	}
}

// When one server stops (here: fails, or panics), serveAll stops the other
// and returns what went wrong.
func TestServeAllStopsTogether(t *testing.T) {
	waitsForStop := func(ctx context.Context) error { <-ctx.Done(); return nil }
	for _, c := range []struct {
		name   string
		failer func(context.Context) error
		want   string
	}{
		{"failure", func(context.Context) error { return errors.New("listener closed") }, "listener closed"},
		{"panic", func(context.Context) error { panic("bug") }, "server panicked: bug"},
	} {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- serveAll(context.Background(), waitsForStop, c.failer) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("err %v, want %q", err, c.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the other server was not stopped")
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := serveAll(ctx, waitsForStop, waitsForStop); err != nil {
		t.Fatalf("clean stop: %v", err)
	}
}
