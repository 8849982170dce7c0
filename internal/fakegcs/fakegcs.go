// Package fakegcs starts an in-process fake Cloud Storage
// (github.com/fsouza/fake-gcs-server) on a free loopback port, for tests
// and `dev -cloud`. The real client talks to it over HTTP, JSON API and
// XML range reads alike (the fake's public host is set to its own
// address, which its range reads need).
package fakegcs

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"
)

// Server is a running fake.
type Server struct {
	srv  *fakestorage.Server
	host string
}

// Start starts a fake, in memory, holding the given (empty) buckets.
func Start(buckets ...string) (*Server, error) { return StartIn("", buckets...) }

// StartIn starts a fake keeping its objects under root (in memory when
// root is ""), so a restart finds them again; buckets are created when
// missing.
func StartIn(root string, buckets ...string) (*Server, error) {
	// The fake needs its public host before it listens: take a free port
	// first. Another process could grab it in between; then Start fails
	// and the caller sees why.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake gcs: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	host := "127.0.0.1:" + strconv.Itoa(port)
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme:      "http",
		Host:        "127.0.0.1",
		Port:        uint16(port),
		PublicHost:  host,
		StorageRoot: root,
		Writer:      io.Discard,
	})
	if err != nil {
		return nil, fmt.Errorf("fake gcs on %s: %w", host, err)
	}
	for _, b := range buckets {
		if _, err := srv.Backend().GetBucket(b); err != nil {
			srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
		}
	}
	return &Server{srv: srv, host: host}, nil
}

// Host is host:port, what STORAGE_EMULATOR_HOST takes.
func (s *Server) Host() string { return s.host }

// CreateBucket adds an empty bucket.
func (s *Server) CreateBucket(name string) {
	s.srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
}

// Stop stops the fake.
func (s *Server) Stop() { s.srv.Stop() }

// Client returns a real client of the fake. wrap, when set, wraps the
// client's transport (to count or fail requests).
func (s *Server) Client(ctx context.Context, wrap func(http.RoundTripper) http.RoundTripper) (*storage.Client, error) {
	var rt http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()
	if wrap != nil {
		rt = wrap(rt)
	}
	return storage.NewClient(ctx,
		option.WithEndpoint("http://"+s.host+"/storage/v1/"),
		option.WithHTTPClient(&http.Client{Transport: rt}),
		option.WithoutAuthentication())
}
