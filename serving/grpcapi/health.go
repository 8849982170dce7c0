package grpcapi

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	servingpb "github.com/skewfree/skewfree/serving/grpcapi/proto/feast/serving"
)

// healthService answers grpc.health.v1 for the server ("") and for
// feast.serving.ServingService: SERVING while the online store answers a
// ping, as /readyz. Check pings the store itself; Watch sees the result of
// the last ping (Check's, or the poll's every HealthInterval).
type healthService struct {
	*health.Server
	ping Pinger
	log  *slog.Logger
}

func newHealthService(ping Pinger, log *slog.Logger) *healthService {
	h := &healthService{Server: health.NewServer(), ping: ping, log: log}
	h.set(healthpb.HealthCheckResponse_NOT_SERVING) // until the first ping
	return h
}

func (h *healthService) set(st healthpb.HealthCheckResponse_ServingStatus) {
	h.SetServingStatus("", st)
	h.SetServingStatus(servingpb.ServingService_ServiceDesc.ServiceName, st)
}

// Check pings the store, then answers from the updated status.
func (h *healthService) Check(ctx context.Context, in *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	h.refresh(ctx)
	return h.Server.Check(ctx, in)
}

// refresh pings the store (for at most a second) and records the result.
// A panicking Pinger counts as an unreachable store.
func (h *healthService) refresh(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, time.Second)
	defer cancel()
	err := func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("ping panicked: %v", v)
			}
		}()
		return h.ping.Ping(ctx)
	}()
	if err != nil && parent.Err() != nil {
		return // the caller went away (or the server stops): no news
	}
	if err != nil {
		h.log.Warn("grpcapi: not ready", "err", err)
		h.set(healthpb.HealthCheckResponse_NOT_SERVING)
		return
	}
	h.set(healthpb.HealthCheckResponse_SERVING)
}

// poll refreshes the status every interval until ctx is done.
func (h *healthService) poll(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		h.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
