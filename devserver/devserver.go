// Package devserver runs a complete Temporal server in-process, on SQLite,
// with the Temporal Web UI, so that `make dev` and the end-to-end tests need
// nothing installed but Go. It is our own small embedding of
// go.temporal.io/server: one process, all four services, loopback only.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// Options of an embedded server. Zero values mean the documented defaults.
type Options struct {
	// StateDir holds the SQLite database (temporal.db), so workflows and
	// schedules survive restarts. Empty: an in-memory database.
	StateDir string
	// Namespace to create; default "default".
	Namespace string
	// SearchAttributes to register on the namespace (custom ones).
	SearchAttributes map[string]enumspb.IndexedValueType
	// FrontendPort for gRPC clients; 0 picks a free port.
	FrontendPort int
	// UIPort serves the Temporal Web UI; 0 picks a free port, -1 disables it.
	UIPort int
	// Logger receives the server's warnings and errors; default discards.
	Logger *slog.Logger
}

// Server is a running embedded Temporal server.
type Server struct {
	srv          temporal.Server
	ui           *uiserver.Server
	frontendAddr string
	uiURL        string
	namespace    string
	stopping     *atomic.Bool
}

const host = "127.0.0.1"

// Start brings the server (and its UI) up and returns when clients can
// connect.
func Start(ctx context.Context, opt Options) (*Server, error) {
	if opt.Namespace == "" {
		opt.Namespace = "default"
	}
	ports, err := freePorts(9)
	if err != nil {
		return nil, fmt.Errorf("dev server: %w", err)
	}
	if opt.FrontendPort == 0 {
		opt.FrontendPort = ports[0]
	}
	sqlCfg := config.SQL{PluginName: sqliteplugin.PluginName, ConnectAttributes: map[string]string{}}
	if opt.StateDir == "" {
		// In memory mode the SQLite plugin creates the schema itself.
		sqlCfg.ConnectAttributes["mode"] = "memory"
		sqlCfg.ConnectAttributes["cache"] = "shared"
		sqlCfg.DatabaseName = "skewfree-" + strconv.Itoa(ports[8])
	} else {
		if err := os.MkdirAll(opt.StateDir, 0o755); err != nil {
			return nil, fmt.Errorf("dev server: %w", err)
		}
		sqlCfg.ConnectAttributes["mode"] = "rwc"
		sqlCfg.DatabaseName = filepath.Join(opt.StateDir, "temporal.db")
		if _, err := os.Stat(sqlCfg.DatabaseName); errors.Is(err, os.ErrNotExist) {
			if err := sqlite.SetupSchema(&sqlCfg); err != nil {
				return nil, fmt.Errorf("dev server: create schema: %w", err)
			}
		}
	}
	const clusterName = "active"
	ns, err := sqlite.NewNamespaceConfig(clusterName, opt.Namespace, false, opt.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("dev server: namespace: %w", err)
	}
	if err := sqlite.CreateNamespaces(&sqlCfg, ns); err != nil {
		return nil, fmt.Errorf("dev server: namespace: %w", err)
	}

	frontend := fmt.Sprintf("%s:%d", host, opt.FrontendPort)
	svc := func(grpc, membership int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: grpc, MembershipPort: membership, BindOnIP: host}}
	}
	cfg := &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: host},
			Metrics:    &metrics.Config{Prometheus: &metrics.PrometheusConfig{ListenAddress: fmt.Sprintf("%s:%d", host, ports[1]), HandlerPath: "/metrics"}},
		},
		Persistence: config.Persistence{
			DefaultStore: sqliteplugin.PluginName, VisibilityStore: sqliteplugin.PluginName, NumHistoryShards: 1,
			DataStores: map[string]config.DataStore{sqliteplugin.PluginName: {SQL: &sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace: false, FailoverVersionIncrement: 10,
			MasterClusterName: clusterName, CurrentClusterName: clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services: map[string]config.Service{
			"frontend": svc(opt.FrontendPort, ports[2]),
			"history":  svc(ports[3], ports[4]),
			"matching": svc(ports[5], ports[6]),
			"worker":   svc(ports[7], 0),
		},
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: frontend},
	}
	// The worker service needs a membership port of its own too.
	wp, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	w := cfg.Services["worker"]
	w.RPC.MembershipPort = wp[0]
	cfg.Services["worker"] = w

	stopping := new(atomic.Bool)
	var logger log.Logger = log.NewNoopLogger()
	if opt.Logger != nil {
		logger = slogAdapter(opt.Logger, stopping)
	}
	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("dev server: %w", err)
	}
	claims, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("dev server: %w", err)
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claims }),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			// Search attributes added at run time are visible at once.
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("dev server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("dev server: start: %w", err)
	}
	s := &Server{srv: srv, frontendAddr: frontend, namespace: opt.Namespace, stopping: stopping}
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	if opt.UIPort >= 0 {
		port := opt.UIPort
		if port == 0 {
			port = ports[8]
		}
		s.ui = uiserver.NewServer(server_options.WithConfigProvider(&uiconfig.Config{
			TemporalGRPCAddress: frontend,
			Host:                host,
			Port:                port,
			EnableUI:            true,
			DefaultNamespace:    opt.Namespace,
			DisableNewsFetch:    true,
			HideLogs:            true,
			CORS:                uiconfig.CORS{CookieInsecure: true},
		}))
		go func() { _ = s.ui.Start() }()
		s.uiURL = fmt.Sprintf("http://%s:%d", host, port)
		if err := waitHTTP(ctx, s.uiURL); err != nil {
			s.Stop()
			return nil, fmt.Errorf("dev server: web UI: %w", err)
		}
	}
	return s, nil
}

// FrontendAddr is the host:port for Temporal clients.
func (s *Server) FrontendAddr() string { return s.frontendAddr }

// UIURL is the Web UI's address, or "" when disabled.
func (s *Server) UIURL() string { return s.uiURL }

// Namespace is the namespace the server was started with.
func (s *Server) Namespace() string { return s.namespace }

// Stop shuts the UI and the server down.
func (s *Server) Stop() {
	s.stopping.Store(true)
	if s.ui != nil {
		s.ui.Stop()
	}
	_ = s.srv.Stop()
}

// waitReady dials until the frontend answers for the namespace.
func (s *Server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: s.frontendAddr, Namespace: s.namespace, Logger: quietLogger{}})
		if err == nil {
			err = probe(ctx, c)
			c.Close()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("dev server: frontend %s not ready: %w", s.frontendAddr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// probe succeeds once every service answers: the frontend's health check
// passes before history and matching have joined the membership ring (on a
// restart with state, "Not enough hosts to serve the request").
func probe(ctx context.Context, c client.Client) error {
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// History: a lookup of a workflow that does not exist says NotFound
	// only when a history host owns the shard.
	_, err := c.DescribeWorkflowExecution(pctx, "skewfree-readiness-probe", "")
	var notFound *serviceerror.NotFound
	if err != nil && !errors.As(err, &notFound) {
		return err
	}
	// Matching.
	_, err = c.DescribeTaskQueue(pctx, "skewfree-readiness-probe", enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	return err
}

func waitHTTP(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePorts reserves n distinct loopback ports by listening on them at once,
// then releases them for the server to bind.
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", host+":0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
