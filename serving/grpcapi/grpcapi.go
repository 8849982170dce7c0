// Package grpcapi is Skewfree's gRPC reader service: Feast's
// feast.serving.ServingService (GetFeastServingInfo, GetOnlineFeatures), so
// a Feast gRPC client works unchanged, beside the HTTP API of
// serving/httpapi and answered by the same code (serving/internal/feastapi):
// the same features, statuses and event timestamps as the HTTP JSON, the
// same limits, and the same messages for bad input, with InvalidArgument
// where HTTP says 4xx and Unavailable where it says 503. Nothing a client
// sends produces Internal.
//
// The server also answers gRPC health checks (grpc.health.v1: SERVING
// while the online store answers, like /readyz) and server reflection, so
// grpcurl and load balancers work without the protos. With a token, every
// call but health checks needs "authorization: Bearer <token>" metadata.
//
// The protocol buffers are Skewfree's own definitions, wire-compatible with
// Feast's, under proto/ (generated code checked in; `make proto`
// regenerates it).
package grpcapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/serving"
	servingpb "github.com/skewfree/skewfree/serving/grpcapi/proto/feast/serving"
	"github.com/skewfree/skewfree/serving/internal/feastapi"
)

// Reader is what the service needs from serving.Reader. Registry is asked
// on every request, so a reader whose registry changes at run time serves
// the new one at once.
type Reader interface {
	feastapi.Reader
	Registry() *features.Registry
}

var _ Reader = (*serving.Reader)(nil)

// Pinger reports whether the online store is reachable (for health
// checks); *redis.Store implements it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Options configure the server. The zero value is valid: every field
// documents its default.
type Options struct {
	// MaxEntities bounds the entity rows of one request. Default 1000.
	MaxEntities int
	// MaxMessageBytes bounds a request message. Default 1 MiB, the HTTP
	// API's body limit.
	MaxMessageBytes int
	// Timeout bounds one online read. Default 2s.
	Timeout time.Duration
	// Token, when set, is the bearer token every call but health checks
	// must carry ("authorization: Bearer <token>" metadata). Default "":
	// no authentication.
	Token string
	// HealthInterval is how often the online store is pinged to update
	// health watchers (a Check pings it itself). Default 5s.
	HealthInterval time.Duration
	// Registerer receives the metrics. Default: a fresh registry (give the
	// HTTP API's, so /metrics shows both).
	Registerer prometheus.Registerer
	// Logger receives errors that are not the client's. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	if o.MaxEntities < 0 || o.MaxMessageBytes < 0 || o.Timeout < 0 || o.HealthInterval < 0 {
		return fmt.Errorf("grpcapi: limits must not be negative")
	}
	return nil
}

func (o *Options) init() {
	if o.MaxEntities == 0 {
		o.MaxEntities = 1000
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 1 << 20
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.HealthInterval == 0 {
		o.HealthInterval = 5 * time.Second
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Server is the gRPC reader service. Serve runs it.
type Server struct {
	grpc   *grpc.Server
	health *healthService
	opts   Options
}

// New returns a server of reader's features; ping tells health checks
// whether the online store answers.
func New(reader Reader, ping Pinger, opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.init()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	in := interceptors{metrics: m, log: opts.Logger, token: sha256.Sum256([]byte(opts.Token)), auth: opts.Token != ""}
	g := grpc.NewServer(
		grpc.MaxRecvMsgSize(opts.MaxMessageBytes),
		grpc.ChainUnaryInterceptor(in.unary),
		grpc.ChainStreamInterceptor(in.stream),
	)
	servingpb.RegisterServingServiceServer(g, &service{reader: reader, opts: opts})
	hs := newHealthService(ping, opts.Logger)
	healthgrpc.RegisterHealthServer(g, hs)
	reflection.Register(g)
	return &Server{grpc: g, health: hs, opts: opts}, nil
}

// Serve answers gRPC on l until ctx is done, then stops gracefully: health
// checks turn NOT_SERVING, new calls are refused, and calls in flight get
// up to grace to finish before their connections are closed. It returns
// nil after a clean stop. A Server serves once.
func (s *Server) Serve(ctx context.Context, l net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(l) }()
	pollDone := make(chan struct{})
	pctx, stopPoll := context.WithCancel(ctx)
	go func() {
		defer close(pollDone)
		s.health.poll(pctx, s.opts.HealthInterval)
	}()
	defer func() { stopPoll(); <-pollDone }()
	select {
	case err := <-errc:
		s.grpc.Stop()
		return fmt.Errorf("grpcapi: serve: %w", err)
	case <-ctx.Done():
	}
	stopPoll()
	s.health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	var err error
	select {
	case <-stopped:
	case <-time.After(grace):
		s.grpc.Stop()
		<-stopped
		err = fmt.Errorf("grpcapi: shutdown after %s: calls still in flight were cut", grace)
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, grpc.ErrServerStopped) {
		return errors.Join(err, fmt.Errorf("grpcapi: serve: %w", serr))
	}
	return err
}
