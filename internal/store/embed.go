package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// clustered reports whether the embedded member belongs to a cluster of
// several members rather than being alone on unix sockets.
func (cfg Config) clustered() bool { return cfg.InitialCluster != "" }

// memberSyncInterval is how often a clustered member refreshes the list of
// the other members' client URLs it can fail over to.
const memberSyncInterval = 10 * time.Second

// embedConfig builds the embedded member's configuration, refusing
// inconsistent clustering settings with a message naming the flag.
func embedConfig(cfg Config) (*embed.Config, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("store: embedded etcd needs a data directory")
	}
	ec := embed.NewConfig()
	ec.Name = cfg.Name
	if ec.Name == "" {
		ec.Name = "spinel"
	}
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

	local, _ := url.Parse("unix://" + filepath.Join(cfg.DataDir, "client.sock"))
	clients, err := parseURLs("--etcd-listen-client-urls", append(slices.Clone(cfg.ListenClientURLs), nonEmpty(cfg.ListenClient)...))
	if err != nil {
		return nil, err
	}
	advClients, err := parseURLs("--etcd-advertise-client-urls", cfg.AdvertiseClientURLs)
	if err != nil {
		return nil, err
	}
	if len(advClients) == 0 {
		advClients = clients
	}
	if len(advClients) == 0 {
		advClients = []url.URL{*local}
	}
	// The member always serves this process on the unix socket in the data
	// directory too, whatever else it listens on.
	ec.ListenClientUrls = append([]url.URL{*local}, clients...)
	ec.AdvertiseClientUrls = advClients
	if cfg.CertFile != "" {
		ec.ClientTLSInfo = transport.TLSInfo{CertFile: cfg.CertFile, KeyFile: cfg.KeyFile,
			TrustedCAFile: cfg.CAFile, ClientCertAuth: cfg.CAFile != ""}
	}

	if !cfg.clustered() {
		if cfg.InitialClusterState != "" && cfg.InitialClusterState != "new" {
			return nil, errors.New("store: --etcd-initial-cluster-state existing needs --etcd-initial-cluster")
		}
		if len(cfg.ListenPeerURLs)+len(cfg.AdvertisePeerURLs) > 0 {
			return nil, errors.New("store: --etcd-listen-peer-urls needs --etcd-initial-cluster")
		}
		if cfg.UnsafeNoFsync {
			// Tests: elect the single member at once instead of after ~1 s.
			ec.TickMs, ec.ElectionMs = 10, 100
		}
		// The peer listener is not used by a single member; bind it to a
		// unix socket in the data dir so two servers on one machine never
		// fight over port 2380.
		peer, _ := url.Parse("unix://" + filepath.Join(cfg.DataDir, "peer.sock"))
		ec.ListenPeerUrls = []url.URL{*peer}
		ec.AdvertisePeerUrls = []url.URL{*peer}
		ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
		return ec, nil
	}

	own, err := ownPeerURLs(cfg.InitialCluster, ec.Name)
	if err != nil {
		return nil, err
	}
	if ec.ListenPeerUrls, err = parseURLs("--etcd-listen-peer-urls", cfg.ListenPeerURLs); err != nil {
		return nil, err
	}
	if len(ec.ListenPeerUrls) == 0 {
		ec.ListenPeerUrls = own
	}
	if ec.AdvertisePeerUrls, err = parseURLs("--etcd-initial-advertise-peer-urls", cfg.AdvertisePeerURLs); err != nil {
		return nil, err
	}
	if len(ec.AdvertisePeerUrls) == 0 {
		ec.AdvertisePeerUrls = own
	}
	ec.InitialCluster = cfg.InitialCluster
	ec.InitialClusterToken = "spinel"
	switch cfg.InitialClusterState {
	case "", "new":
		ec.ClusterState = embed.ClusterStateFlagNew
	case "existing":
		ec.ClusterState = embed.ClusterStateFlagExisting
	default:
		return nil, fmt.Errorf("store: --etcd-initial-cluster-state %q: want new or existing", cfg.InitialClusterState)
	}
	if cfg.PeerCertFile != "" || cfg.PeerCAFile != "" {
		ec.PeerTLSInfo = transport.TLSInfo{CertFile: cfg.PeerCertFile, KeyFile: cfg.PeerKeyFile,
			TrustedCAFile: cfg.PeerCAFile, ClientCertAuth: cfg.PeerCAFile != ""}
	}
	for _, u := range append(slices.Clone(ec.ListenPeerUrls), ec.AdvertisePeerUrls...) {
		if (u.Scheme == "https") != (cfg.PeerCertFile != "") {
			return nil, fmt.Errorf("store: peer URL %s: https needs --etcd-peer-cert and --etcd-peer-key, and they need https peer URLs", u.String())
		}
	}
	return ec, nil
}

// ownPeerURLs returns the URLs of member name in an initial-cluster list.
func ownPeerURLs(initial, name string) ([]url.URL, error) {
	var own []string
	for _, e := range strings.Split(initial, ",") {
		n, u, ok := strings.Cut(strings.TrimSpace(e), "=")
		if !ok || n == "" || u == "" {
			return nil, fmt.Errorf("store: --etcd-initial-cluster entry %q: want name=peer-url", e)
		}
		if n == name {
			own = append(own, u)
		}
	}
	if len(own) == 0 {
		return nil, fmt.Errorf("store: --etcd-initial-cluster %q has no entry for this member (--etcd-name %q)", initial, name)
	}
	return parseURLs("--etcd-initial-cluster", own)
}

func parseURLs(flag string, in []string) ([]url.URL, error) {
	var out []url.URL
	for _, s := range in {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Scheme == "" || (u.Host == "" && u.Path == "") {
			return nil, fmt.Errorf("store: %s: bad URL %q", flag, s)
		}
		out = append(out, *u)
	}
	return out, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// startEmbedded starts the embedded member and connects to it. Alone, the
// store talks to it in-process. In a cluster, it talks gRPC to its own
// member first and fails over, in order, to the other members' advertised
// client URLs, which it keeps up to date from the member list.
func (s *Store) startEmbedded(ctx context.Context, cfg Config) error {
	ec, err := embedConfig(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return fmt.Errorf("store: starting embedded etcd in %s: %w", ec.Dir, err)
	}
	// A clustered member is ready once it has joined a quorum, which may
	// take as long as the other members take to start: wait for it (until
	// ctx ends), saying so every ten seconds.
	var deadline <-chan time.Time
	if !cfg.clustered() {
		deadline = time.After(60 * time.Second)
	}
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case <-e.Server.ReadyNotify():
			break wait
		case err := <-e.Err():
			e.Close()
			return fmt.Errorf("store: embedded etcd: %w", err)
		case <-tick.C:
			s.log.Info("embedded etcd member waiting for a quorum", "member", ec.Name, "initial_cluster", ec.InitialCluster)
		case <-deadline:
			e.Close()
			return errors.New("store: embedded etcd did not become ready in 60s")
		case <-ctx.Done():
			e.Close()
			return ctx.Err()
		}
	}
	s.member = e
	if !cfg.clustered() {
		s.Client = v3client.New(e.Server)
		return nil
	}
	tlsCfg, err := clientTLS(cfg)
	if err != nil {
		e.Close()
		return err
	}
	own := make([]string, 0, len(ec.AdvertiseClientUrls))
	for _, u := range ec.AdvertiseClientUrls {
		own = append(own, u.String())
	}
	if tlsCfg == nil {
		// Without TLS the own member is reachable on its unix socket
		// whatever its advertised URLs are; mixing schemes in one client
		// is not possible with TLS, so then the advertised URLs are used.
		own = []string{ec.ListenClientUrls[0].String()}
	}
	cc := clientConfig(context.WithoutCancel(ctx), own, tlsCfg)
	// Own member first, the others in order, as fallbacks: pick_first
	// instead of the client's default round robin.
	cc.DialOptions = []grpc.DialOption{grpc.WithDisableServiceConfig(),
		grpc.WithDefaultServiceConfig(`{"loadBalancingPolicy":"pick_first"}`)}
	cli, err := clientv3.New(cc)
	if err != nil {
		e.Close()
		return fmt.Errorf("store: connecting to the embedded member: %w", err)
	}
	s.Client = cli
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.done = stop, make(chan struct{})
	go s.syncEndpoints(sctx, own, uint64(e.Server.MemberID()))
	return nil
}

// syncEndpoints keeps the client's endpoints at the own member's URLs
// followed by every other started member's client URLs. It looks every
// second until every member has published its URLs, then every
// memberSyncInterval.
func (s *Store) syncEndpoints(ctx context.Context, own []string, selfID uint64) {
	defer close(s.done)
	current := slices.Clone(own)
	for {
		wait := time.Second
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := s.Client.MemberList(lctx)
		cancel()
		if err == nil {
			eps, complete := slices.Clone(own), true
			members := resp.Members
			slices.SortFunc(members, func(a, b *etcdMember) int { return strings.Compare(a.Name, b.Name) })
			for _, m := range members {
				complete = complete && len(m.ClientURLs) > 0
				if m.ID == selfID || m.IsLearner {
					continue
				}
				eps = append(eps, m.ClientURLs...)
			}
			if !slices.Equal(eps, current) {
				s.Client.SetEndpoints(eps...)
				s.log.Info("etcd endpoints", "endpoints", eps)
				current = eps
			}
			if complete {
				wait = memberSyncInterval
			}
		} else if ctx.Err() == nil {
			s.log.Warn("listing etcd members", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// MemberName is the name of the embedded etcd member, "" with an external cluster.
func (s *Store) MemberName() string {
	if s.member == nil {
		return ""
	}
	return s.member.Config().Name
}
