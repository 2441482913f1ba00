// Package store is spinel's only persistence: etcd v3, either an external
// cluster or a member embedded in the server process. It offers the key
// schema and an atomic multi-key change with conflict detection; higher
// layers never see etcd types except through Client for watching.
package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
)

// Config selects and tunes the etcd behind the store.
type Config struct {
	// Endpoints of an external etcd cluster. Empty: run an embedded member.
	Endpoints []string
	// TLS for the external cluster's client connections (all optional).
	CertFile, KeyFile, CAFile string
	// DataDir holds the embedded member's data.
	DataDir string
	// ListenClient, if set, makes the embedded member also serve clients
	// (etcdctl, other servers) on this URL, e.g. http://127.0.0.1:2379.
	ListenClient string
	// Prefix under which every key lives, default "/spinel".
	Prefix string
	// UnsafeNoFsync disables fsync in the embedded member (tests only).
	UnsafeNoFsync bool
}

// Store is an open etcd connection (and the embedded member, if any).
type Store struct {
	Client *clientv3.Client
	prefix string
	member *embed.Etcd
	log    *slog.Logger
}

// MaxTxnOps is the number of operations one change may contain. The
// embedded member is configured with it; an external cluster needs
// --max-txn-ops at least this large for big cascades.
const MaxTxnOps = 4096

// Open connects to etcd, starting the embedded member when no endpoints are
// configured. It returns once etcd is ready to serve.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "/spinel"
	}
	s := &Store{prefix: cfg.Prefix, log: log}
	if len(cfg.Endpoints) == 0 {
		if err := s.startEmbedded(ctx, cfg); err != nil {
			return nil, err
		}
		return s, nil
	}
	tlsCfg, err := clientTLS(cfg)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:          cfg.Endpoints,
		DialTimeout:        5 * time.Second,
		TLS:                tlsCfg,
		Context:            ctx,
		MaxCallRecvMsgSize: 1 << 30,
	})
	if err != nil {
		return nil, fmt.Errorf("store: connecting to etcd %v: %w", cfg.Endpoints, err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Status(sctx, cfg.Endpoints[0]); err != nil {
		// Another endpoint may be up; a Get tells us whether the cluster serves.
		if _, err2 := cli.Get(sctx, cfg.Prefix+"/ping"); err2 != nil {
			cli.Close()
			return nil, fmt.Errorf("store: etcd %v not reachable: %w", cfg.Endpoints, err2)
		}
	}
	s.Client = cli
	return s, nil
}

func clientTLS(cfg Config) (*tls.Config, error) {
	if cfg.CertFile == "" && cfg.CAFile == "" {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("store: loading etcd client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("store: reading etcd CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("store: no certificates in %s", cfg.CAFile)
		}
		t.RootCAs = pool
	}
	return t, nil
}

func (s *Store) startEmbedded(ctx context.Context, cfg Config) error {
	if cfg.DataDir == "" {
		return errors.New("store: embedded etcd needs a data directory")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	ec := embed.NewConfig()
	ec.Name = "spinel"
	ec.Dir = filepath.Join(cfg.DataDir, "etcd")
	ec.LogLevel = "error"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	ec.MaxTxnOps = MaxTxnOps
	ec.MaxRequestBytes = 8 << 20
	ec.QuotaBackendBytes = 8 << 30
	ec.AutoCompactionMode = "revision"
	ec.AutoCompactionRetention = "100000"
	ec.SnapshotCount = 10000
	ec.UnsafeNoFsync = cfg.UnsafeNoFsync
	if cfg.UnsafeNoFsync {
		// Tests: elect the single member at once instead of after ~1 s.
		ec.TickMs, ec.ElectionMs = 10, 100
	}
	// The peer listener is not used by a single member; bind it to an
	// ephemeral-looking unix socket in the data dir so two servers on one
	// machine never fight over port 2380.
	peer, _ := url.Parse("unix://" + filepath.Join(cfg.DataDir, "peer.sock"))
	ec.ListenPeerUrls = []url.URL{*peer}
	ec.AdvertisePeerUrls = []url.URL{*peer}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	if cfg.ListenClient != "" {
		u, err := url.Parse(cfg.ListenClient)
		if err != nil {
			return fmt.Errorf("store: bad etcd client URL %q: %w", cfg.ListenClient, err)
		}
		ec.ListenClientUrls = []url.URL{*u}
		ec.AdvertiseClientUrls = []url.URL{*u}
	} else {
		cu, _ := url.Parse("unix://" + filepath.Join(cfg.DataDir, "client.sock"))
		ec.ListenClientUrls = []url.URL{*cu}
		ec.AdvertiseClientUrls = []url.URL{*cu}
	}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return fmt.Errorf("store: starting embedded etcd in %s: %w", ec.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return errors.New("store: embedded etcd did not become ready in 60s")
	case <-ctx.Done():
		e.Close()
		return ctx.Err()
	}
	s.member = e
	s.Client = v3client.New(e.Server)
	return nil
}

// Close closes the client and stops the embedded member, if any.
func (s *Store) Close() error {
	if s.Client != nil {
		s.Client.Close()
	}
	if s.member != nil {
		s.member.Close()
	}
	return nil
}

// Prefix is the root under which all of spinel's keys live.
func (s *Store) Prefix() string { return s.prefix }

// ResourceKey is the key of a resource document.
func (s *Store) ResourceKey(kind, id string) string { return s.prefix + "/r/" + kind + "/" + id }

// ClaimKey is the key of a uniqueness claim: an allocation (an IP in a
// subnet, a MAC, a segmentation id, ...) owned by a resource.
func (s *Store) ClaimKey(space, value string) string { return s.prefix + "/c/" + space + "/" + value }
