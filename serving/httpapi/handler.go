// Package httpapi is Skewfree's HTTP reader service: POST
// /get-online-features in the JSON shape of Feast's feature server (so Feast
// HTTP clients work unchanged), plus /healthz, /readyz, /metrics and
// /catalog. It is a package rather than part of serving/server's main so the
// `dev` command runs the very same handler in-process.
//
// Client mistakes get a 4xx JSON error {"error": "..."} naming the problem;
// an unreachable online store gets 503; nothing a client sends produces a
// 500.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/internal/feastapi"
)

// Reader is what the handler needs from serving.Reader.
type Reader interface {
	Get(ctx context.Context, featureRefs []string, entities serving.Entities) (*serving.Result, error)
	GetService(ctx context.Context, service string, entities serving.Entities) (*serving.Result, error)
	Stats() serving.Stats
}

// Pinger reports whether the online store is reachable (for /readyz);
// *redis.Store implements it.
type Pinger interface {
	Ping(ctx context.Context) error
}

var _ Reader = (*serving.Reader)(nil)

// Options configure the handler. The zero value is valid: every field
// documents its default.
type Options struct {
	// MaxEntities bounds the entity rows of one request. Default 1000.
	MaxEntities int
	// MaxBodyBytes bounds a request body. Default 1 MiB.
	MaxBodyBytes int64
	// Timeout bounds one online read. Default 2s.
	Timeout time.Duration
	// Token, when set, is the bearer token every request but /healthz,
	// /readyz and /metrics must carry (Authorization: Bearer <token>).
	// Default "": no authentication.
	Token string
	// Registerer receives the metrics and Gatherer serves /metrics. Default:
	// a fresh registry with the Go and process collectors, so two handlers
	// in one process (tests, dev) do not collide.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Logger receives errors that are not the client's. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	if o.MaxEntities < 0 || o.MaxBodyBytes < 0 || o.Timeout < 0 {
		return fmt.Errorf("httpapi: limits must not be negative")
	}
	if (o.Registerer == nil) != (o.Gatherer == nil) {
		return fmt.Errorf("httpapi: set both Registerer and Gatherer, or neither")
	}
	return nil
}

func (o *Options) init() {
	if o.MaxEntities == 0 {
		o.MaxEntities = 1000
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Registerer == nil {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		o.Registerer, o.Gatherer = r, r
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

type handler struct {
	registry *registries // reg, or the reader's current registry (catalog.go)
	reader   Reader
	ping     Pinger
	opts     Options
	token    [sha256.Size]byte
	latency  *prometheus.HistogramVec
	bufs     sync.Pool
}

// New returns the service's handler. Join keys, services and /catalog come
// from the reader's registry at each request when the reader can tell it
// (serving.Reader's Registry, which SetRegistry replaces while the service
// runs), else from reg.
func New(reg *features.Registry, reader Reader, ping Pinger, opts Options) (http.Handler, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.init()
	h := &handler{registry: newRegistries(reg, reader), reader: reader, ping: ping, opts: opts,
		token: sha256.Sum256([]byte(opts.Token))}
	h.bufs.New = func() any { return new([]byte) }
	h.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "skewfree_serving_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by path and status code.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"path", "code"})
	stat := func(name, help string, f func(serving.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(reader.Stats())) })
	}
	for _, c := range []prometheus.Collector{h.latency,
		stat("skewfree_serving_cache_hits_total", "Online values answered from the in-process cache.", func(s serving.Stats) uint64 { return s.CacheHits }),
		stat("skewfree_serving_cache_misses_total", "Online values read from Redis.", func(s serving.Stats) uint64 { return s.CacheMisses }),
		stat("skewfree_serving_redis_errors_total", "Online reads that failed because Redis did not answer.", func(s serving.Stats) uint64 { return s.StoreErrors }),
		stat("skewfree_serving_fingerprint_mismatches_total", "Values computed by another definition of their view.", func(s serving.Stats) uint64 { return s.FingerprintMismatches }),
		stat("skewfree_serving_definition_not_found_total", "Feature values answered NOT_FOUND because the stored value's definition has no feature of that name and type.", func(s serving.Stats) uint64 { return s.DefinitionNotFound }),
		stat("skewfree_serving_unreadable_values_total", "Stored values that could not be decoded or no longer fit their view.", func(s serving.Stats) uint64 { return s.Unreadable }),
		stat("skewfree_serving_coalesced_fetches_total", "Redis round trips shared by several requests (request coalescing).", func(s serving.Stats) uint64 { return s.CoalescedFetches }),
		stat("skewfree_serving_coalesced_requests_total", "Requests whose values came in a shared Redis round trip.", func(s serving.Stats) uint64 { return s.CoalescedGets }),
		catalogInfo{h.registry},
	} {
		if err := opts.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("httpapi: register metrics: %w", err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/get-online-features", h.observe("/get-online-features", h.auth(h.method(http.MethodPost, h.getOnlineFeatures))))
	mux.Handle("/catalog", h.observe("/catalog", h.auth(h.method(http.MethodGet, h.catalog))))
	mux.Handle("/healthz", h.observe("/healthz", h.method(http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})))
	mux.Handle("/readyz", h.observe("/readyz", h.method(http.MethodGet, h.readyz)))
	mux.Handle("/metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %s; try POST /get-online-features", r.URL.Path))
	})
	return h.recover(mux), nil
}

func (h *handler) getOnlineFeatures(w http.ResponseWriter, r *http.Request) {
	// The body is read into a pooled buffer: nothing decoded from it
	// keeps a reference (DecodeRequest copies what it keeps).
	bp := h.bufs.Get().(*[]byte)
	defer h.putBuf(bp)
	body, err := readBody(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes), (*bp)[:0])
	*bp = body
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", h.opts.MaxBodyBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "cannot read request body: "+err.Error())
		return
	}
	req, err := DecodeRequest(body, h.registry.current().joinKeys, h.opts.MaxEntities)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errTooLarge) {
			code = http.StatusRequestEntityTooLarge
		}
		writeError(w, code, err.Error())
		return
	}
	res, err := feastapi.Read(r.Context(), h.reader, &req, h.opts.Timeout, h.opts.Logger, "httpapi")
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	op := h.bufs.Get().(*[]byte)
	defer h.putBuf(op)
	out := appendResponse((*op)[:0], &req, res)
	*op = out
	hdr := w.Header()
	hdr["Content-Type"] = jsonContentType
	hdr["Content-Length"] = []string{strconv.Itoa(len(out))}
	_, _ = w.Write(out)
}

// jsonContentType is shared by every response: net/http only reads it.
var jsonContentType = []string{"application/json"}

func (h *handler) putBuf(bp *[]byte) {
	if cap(*bp) <= 4<<20 { // do not pin huge buffers
		h.bufs.Put(bp)
	}
}

// readBody appends all of r to dst, growing it as io.ReadAll does.
func readBody(r io.Reader, dst []byte) ([]byte, error) {
	if cap(dst) < 4096 {
		dst = make([]byte, 0, 4096)
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

func (h *handler) catalog(w http.ResponseWriter, r *http.Request) {
	writeCatalog(w, h.registry.current())
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := h.ping.Ping(ctx); err != nil {
		h.opts.Logger.Warn("httpapi: not ready", "err", err)
		writeError(w, http.StatusServiceUnavailable, "online store unreachable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// auth checks the bearer token. Both sides are hashed first so the
// constant-time comparison does not leak the token's length either.
func (h *handler) auth(next http.Handler) http.Handler {
	if h.opts.Token == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], h.token[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="skewfree"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *handler) method(m string, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != m {
			w.Header().Set("Allow", m)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s needs %s, got %s", r.URL.Path, m, r.Method))
			return
		}
		next(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (h *handler) observe(path string, next http.Handler) http.Handler {
	// The 200 series is looked up once, at its first use (so /metrics
	// shows no series before a request); others on each request.
	var ok atomic.Pointer[prometheus.Observer]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		d := time.Since(start).Seconds()
		if sw.code != http.StatusOK {
			h.latency.WithLabelValues(path, strconv.Itoa(sw.code)).Observe(d)
			return
		}
		o := ok.Load()
		if o == nil {
			obs := h.latency.WithLabelValues(path, "200")
			o = &obs
			ok.Store(o)
		}
		(*o).Observe(d)
	})
}

// recover turns a bug into a logged 500 without sending the panic value.
func (h *handler) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				h.opts.Logger.Error("httpapi: panic", "path", r.URL.Path, "panic", v)
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
