package grpcapi_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/grpcapi"
	servingpb "github.com/skewfree/skewfree/serving/grpcapi/proto/feast/serving"
	typespb "github.com/skewfree/skewfree/serving/grpcapi/proto/feast/types"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// loadDuration is how long each side of BenchmarkGRPCLoad runs: 10s, or
// SKEWFREE_BENCH_DURATION (as serving/httpapi's BenchmarkHTTPLoad).
func loadDuration(b *testing.B) time.Duration {
	if s := os.Getenv("SKEWFREE_BENCH_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("SKEWFREE_BENCH_DURATION: %v", err)
		}
		return d
	}
	return 10 * time.Second
}

// BenchmarkGRPCLoad mirrors serving/httpapi's BenchmarkHTTPLoad for the
// gRPC service: the same registry and data (1 entity × 50 features from 5
// views, random users of 1000, no cache), driven by 1 and by 32 concurrent
// clients over loopback (one connection each, Feast's generated-client
// way), and then the library in-process with as many goroutines doing the
// same reads, each for loadDuration. It reports requests/s and p50/p99 of
// both and the gRPC/library throughput ratio. Each sub-benchmark runs once
// whatever b.N. The service coalesces requests (as serving/server runs
// it); the library runs as it comes (lib-*) and with coalescing (libco-*,
// grpc/libco).
func BenchmarkGRPCLoad(b *testing.B) {
	srv := testenv.StartRedis(b)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, PoolSize: 64})
	b.Cleanup(func() { c.Close() })
	reg := testenv.WideRegistry(5, 50, 0)
	store, err := redisstore.New(c, reg, redisstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	users := make([]string, 1000)
	for i := range users {
		users[i] = fmt.Sprintf("u%06d", i)
	}
	now := time.Now().UTC()
	var refs []string
	for _, v := range reg.Views() {
		f := testenv.Frame(b, reg, v.Name, serving.StringKeys(users...), now, now, testenv.Sample(1))
		if _, err := store.Write(context.Background(), v.Name, f); err != nil {
			b.Fatal(err)
		}
		for _, ft := range v.Features()[:10] {
			refs = append(refs, v.Name+":"+ft.Name)
		}
	}
	// The service coalesces, as serving/server runs it; the library
	// (lib-*) runs as it comes, and with coalescing too (libco-*).
	reader, err := serving.New(reg, store, serving.Options{})
	if err != nil {
		b.Fatal(err)
	}
	readerCo, err := serving.New(reg, store, serving.Options{Coalesce: true})
	if err != nil {
		b.Fatal(err)
	}
	gs, err := grpcapi.New(readerCo, store, grpcapi.Options{})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gs.Serve(ctx, l, 5*time.Second) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			b.Error(err)
		}
	}()
	reqs := make([]*servingpb.GetOnlineFeaturesRequest, len(users))
	for i, u := range users {
		reqs[i] = &servingpb.GetOnlineFeaturesRequest{
			Kind:             &servingpb.GetOnlineFeaturesRequest_Features{Features: &servingpb.FeatureList{Val: refs}},
			Entities:         map[string]*typespb.RepeatedValue{"user_id": {Val: []*typespb.Value{{Val: &typespb.Value_StringVal{StringVal: u}}}}},
			FullFeatureNames: true,
		}
	}
	d := loadDuration(b)

	for _, clients := range []int{1, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			// run calls op from clients goroutines for d and returns ops/s
			// and latencies.
			run := func(op func(w, i int) error) (float64, *testenv.Latencies) {
				var lat testenv.Latencies
				var wg sync.WaitGroup
				var once sync.Once
				var firstErr error
				deadline := time.Now().Add(d)
				start := time.Now()
				for w := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := w; time.Now().Before(deadline); i += clients {
							t := time.Now()
							if err := op(w, i%len(users)); err != nil {
								once.Do(func() { firstErr = err })
								return
							}
							lat.Add(time.Since(t))
						}
					}()
				}
				wg.Wait()
				if firstErr != nil {
					b.Fatal(firstErr)
				}
				return float64(lat.Len()) / time.Since(start).Seconds(), &lat
			}
			conns := make([]servingpb.ServingServiceClient, clients)
			for i := range conns {
				cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					b.Fatal(err)
				}
				defer cc.Close()
				conns[i] = servingpb.NewServingServiceClient(cc)
				if _, err := conns[i].GetFeastServingInfo(context.Background(), &servingpb.GetFeastServingInfoRequest{}); err != nil {
					b.Fatal(err) // connected before the clock starts
				}
			}
			b.ResetTimer()
			grpcRate, grpcLat := run(func(w, i int) error {
				resp, err := conns[w].GetOnlineFeatures(context.Background(), reqs[i])
				if err == nil && len(resp.GetResults()) != len(refs)+1 {
					err = fmt.Errorf("%d results", len(resp.GetResults()))
				}
				return err
			})
			libRate, libLat := run(func(_, i int) error {
				_, err := reader.Get(context.Background(), refs, serving.Entities{"user_id": serving.StringKeys(users[i])})
				return err
			})
			libcoRate, libcoLat := run(func(_, i int) error {
				_, err := readerCo.Get(context.Background(), refs, serving.Entities{"user_id": serving.StringKeys(users[i])})
				return err
			})
			b.StopTimer()
			b.ReportMetric(libcoRate, "libco-req/s")
			b.ReportMetric(libcoLat.Percentile(50)/1e3, "libco-p50-µs")
			b.ReportMetric(libcoLat.Percentile(99)/1e3, "libco-p99-µs")
			b.ReportMetric(grpcRate/libcoRate, "grpc/libco")
			b.ReportMetric(grpcRate, "grpc-req/s")
			b.ReportMetric(grpcLat.Percentile(50)/1e3, "grpc-p50-µs")
			b.ReportMetric(grpcLat.Percentile(99)/1e3, "grpc-p99-µs")
			b.ReportMetric(libRate, "lib-req/s")
			b.ReportMetric(libLat.Percentile(50)/1e3, "lib-p50-µs")
			b.ReportMetric(libLat.Percentile(99)/1e3, "lib-p99-µs")
			b.ReportMetric(grpcRate/libRate, "grpc/lib")
		})
	}
}
