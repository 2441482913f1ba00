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
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Config selects and tunes the etcd behind the store.
type Config struct {
	// Endpoints of an external etcd cluster. Empty: run an embedded member.
	Endpoints []string
	// TLS for client connections (all optional): to the external cluster,
	// or, with an embedded cluster, both the member's https client
	// listeners and this server's connections to the other members.
	CertFile, KeyFile, CAFile string
	// DataDir holds the embedded member's data.
	DataDir string
	// ListenClient, if set, makes the embedded member also serve clients
	// (etcdctl, other servers) on this URL, e.g. http://127.0.0.1:2379.
	// It is one more entry of ListenClientURLs.
	ListenClient string
	// Prefix under which every key lives, default "/spinel".
	Prefix string
	// UnsafeNoFsync disables fsync in the embedded member (tests only).
	UnsafeNoFsync bool

	// Embedded clustering. With InitialCluster empty the embedded member is
	// a cluster of one whose peer and client listeners are unix sockets in
	// DataDir; otherwise it is the member Name of the cluster InitialCluster
	// ("name=https://10.0.0.1:2380,..."), listening for peers on
	// ListenPeerURLs (default: its own entry of InitialCluster).
	Name                string // member name, default "spinel"
	InitialCluster      string
	InitialClusterState string   // "new" (default) or "existing" (joining a running cluster)
	ListenPeerURLs      []string // default: this member's URLs in InitialCluster
	AdvertisePeerURLs   []string // default: this member's URLs in InitialCluster
	// ListenClientURLs are where the embedded member serves etcd clients
	// besides the unix socket in DataDir; AdvertiseClientURLs (default
	// ListenClientURLs) are what other servers use to fail over to it.
	ListenClientURLs    []string
	AdvertiseClientURLs []string
	// Peer TLS between embedded members (peer URLs must then be https).
	// With PeerCAFile set, peers must present a certificate it signed.
	PeerCertFile, PeerKeyFile, PeerCAFile string

	// Identity is what this process campaigns with in RunElected, so that
	// Leaders can say which server leads (default: the host name).
	Identity string
}

// Store is an open etcd connection (and the embedded member, if any).
type Store struct {
	Client   *clientv3.Client
	prefix   string
	identity string
	member   *embed.Etcd
	log      *slog.Logger
	// stop ends the background work of an embedded cluster member.
	stop context.CancelFunc
	done chan struct{}
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
	if cfg.Identity == "" {
		cfg.Identity, _ = os.Hostname()
	}
	s := &Store{prefix: cfg.Prefix, identity: cfg.Identity, log: log}
	if err := checkExternal(cfg); err != nil {
		return nil, err
	}
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
	cli, err := clientv3.New(clientConfig(ctx, cfg.Endpoints, tlsCfg))
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

// clientConfig is the etcd client configuration for endpoints. The client
// balances requests over the endpoints (round robin); a request whose
// member dies fails, the next one goes to a live member, and watches
// resume on another member from the last revision they delivered.
// Keepalives find members that vanish without closing the connection.
func clientConfig(ctx context.Context, endpoints []string, tlsCfg *tls.Config) clientv3.Config {
	return clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		TLS:                  tlsCfg,
		Context:              ctx,
		MaxCallRecvMsgSize:   1 << 30,
		Logger:               zap.NewNop(),
	}
}

// Validate checks cfg as Open would, without starting or connecting to
// anything: the choice between an external cluster and an embedded member,
// the embedded member's clustering settings and URLs, and the client TLS
// files. It names the offending flag.
func Validate(cfg Config) error {
	if err := checkExternal(cfg); err != nil {
		return err
	}
	if len(cfg.Endpoints) == 0 {
		if _, err := embedConfig(cfg); err != nil {
			return err
		}
	}
	_, err := clientTLS(cfg)
	return err
}

func checkExternal(cfg Config) error {
	if len(cfg.Endpoints) > 0 && (cfg.InitialCluster != "" || len(cfg.ListenClientURLs) > 0 || cfg.ListenClient != "") {
		return errors.New("store: --etcd-endpoints (an external cluster) and the embedded member's --etcd-initial-cluster or --etcd-listen-client-urls exclude each other")
	}
	return nil
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

// Close closes the client and stops the embedded member, if any.
func (s *Store) Close() error {
	if s.stop != nil {
		s.stop()
		<-s.done
	}
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
