// Package testserver starts a real spinel API server (embedded etcd in a
// temporary directory, loopback port) for integration tests.
package testserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/auth"
	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/service"
	"github.com/spinel-net/spinel/internal/store"
)

// Server is a running test server.
type Server struct {
	URL     string // e.g. http://127.0.0.1:41234
	DataDir string
	stop    context.CancelFunc
	done    chan error
}

// Option changes the server's configuration before it starts.
type Option func(*server.Config)

// WithOVN enables the ovn backends (network backend and L3 driver) against
// a test OVN (package ovntest): the northbound database at nb and, unless
// sb is empty, the southbound one (ports then bind only to hosts with a
// chassis there).
func WithOVN(nb, sb string) Option {
	return func(c *server.Config) { c.OVNNBConnection, c.OVNSBConnection = nb, sb }
}

// WithKeystone makes the server authenticate with Keystone under kc
// (keystonetest.Keystone.AuthConfig gives one for a test Keystone).
func WithKeystone(kc auth.KeystoneConfig) Option {
	return func(c *server.Config) {
		c.Auth = server.AuthKeystone
		c.Keystone = kc
	}
}

// Start runs a server for the duration of t. Set SPINEL_TEST_LOG=1 to see
// its logs. etcd does not fsync unless SPINEL_TEST_FSYNC=1 (benchmarks
// quoting figures set it).
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	dir := t.TempDir()
	cfg := server.Config{
		Listen:        "127.0.0.1:0",
		Store:         store.Config{DataDir: dir, UnsafeNoFsync: os.Getenv("SPINEL_TEST_FSYNC") == ""},
		Service:       service.DefaultConfig(),
		NoAuthProject: "admin",
	}
	for _, o := range opts {
		o(&cfg)
	}
	addr := make(chan net.Addr, 1)
	cfg.OnListen = func(a net.Addr) { addr <- a }
	var w io.Writer = io.Discard
	if os.Getenv("SPINEL_TEST_LOG") != "" {
		w = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{DataDir: dir, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- server.Run(ctx, cfg, log) }()
	select {
	case a := <-addr:
		s.URL = "http://" + a.String()
		if cfg.TLSCert != "" {
			s.URL = "https://" + a.String()
		}
	case err := <-s.done:
		cancel()
		t.Fatalf("test server did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("test server did not start in 60s")
	}
	t.Cleanup(s.Stop)
	return s
}

// Stop shuts the server down and waits for it.
func (s *Server) Stop() {
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	<-s.done
}
