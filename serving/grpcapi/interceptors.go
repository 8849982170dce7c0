package grpcapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// metrics are the gRPC service's, beside the HTTP API's
// skewfree_serving_request_duration_seconds.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skewfree_serving_grpc_requests_total",
			Help: "gRPC calls answered, by full method name and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "skewfree_serving_grpc_request_duration_seconds",
			Help:    "Time to answer a gRPC call, by full method name and status code.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"method", "code"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency} {
		if err := r.Register(c); err != nil {
			return nil, fmt.Errorf("grpcapi: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(method string, start time.Time, err error) {
	code := status.Code(err).String()
	m.requests.WithLabelValues(method, code).Inc()
	m.latency.WithLabelValues(method, code).Observe(time.Since(start).Seconds())
}

// interceptors wrap every call: metrics outermost (so they count refused
// and failed calls too), then panic recovery, then authentication.
type interceptors struct {
	metrics *metrics
	log     *slog.Logger
	auth    bool
	token   [sha256.Size]byte
}

// healthPrefix is the method prefix of health checks, which need no token:
// probes and load balancers do not carry one.
const healthPrefix = "/grpc.health.v1.Health/"

func (in interceptors) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() {
		if v := recover(); v != nil {
			resp, err = nil, in.panicked(info.FullMethod, v)
		}
		in.metrics.observe(info.FullMethod, start, err)
	}()
	if err := in.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (in interceptors) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	defer func() {
		if v := recover(); v != nil {
			err = in.panicked(info.FullMethod, v)
		}
		in.metrics.observe(info.FullMethod, start, err)
	}()
	if err := in.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

// panicked turns a bug into a logged Internal error without sending the
// panic value.
func (in interceptors) panicked(method string, v any) error {
	in.log.Error("grpcapi: panic", "method", method, "panic", v)
	return status.Error(codes.Internal, "internal error")
}

// check verifies the bearer token. Both sides are hashed first so the
// constant-time comparison does not leak the token's length either.
func (in interceptors) check(ctx context.Context, method string) error {
	if !in.auth || strings.HasPrefix(method, healthPrefix) {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, h := range md.Get("authorization") {
		got, ok := strings.CutPrefix(h, "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if ok && subtle.ConstantTimeCompare(sum[:], in.token[:]) == 1 {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "missing or wrong bearer token")
}
