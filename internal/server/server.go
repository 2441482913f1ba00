// Package server wires spinel's API server together: etcd (embedded or
// external), the watch cache, the service layer and the HTTP API.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/spinel-net/spinel/internal/apiserver"
	"github.com/spinel-net/spinel/internal/auth"
	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/l3/external"
	l3ovn "github.com/spinel-net/spinel/internal/l3/ovn"
	"github.com/spinel-net/spinel/internal/l3/reconciler"
	"github.com/spinel-net/spinel/internal/l3/routed"
	"github.com/spinel-net/spinel/internal/ovn/chassis"
	"github.com/spinel-net/spinel/internal/ovn/netsync"
	"github.com/spinel-net/spinel/internal/ovsdb"
	"github.com/spinel-net/spinel/internal/policy"
	"github.com/spinel-net/spinel/internal/requestid"
	"github.com/spinel-net/spinel/internal/service"
	"github.com/spinel-net/spinel/internal/store"
)

// Config is everything `spinel server` needs.
type Config struct {
	Listen        string
	Store         store.Config
	Service       service.Config
	NoAuthProject string
	// OnListen, if set, is called with the bound address once serving.
	OnListen func(addr net.Addr)
	// AgentSecret derives the per-host agent tokens (spinel agent-token).
	AgentSecret string
	// ExternalSecret signs the external driver's requests for profiles
	// whose metainfo carries no secret of its own.
	ExternalSecret string
	// ExtraDrivers adds L3 flavor drivers by driver name.
	ExtraDrivers map[string]l3.Driver
	// OVNNBConnection is OVN's northbound database ("unix:/path" or
	// "tcp:host:port", comma-separated for a clustered database); empty
	// disables the ovn backends.
	OVNNBConnection string
	// OVNGatewayChassis are the chassis the gateways of ovn routers are
	// scheduled to, with their priorities.
	OVNGatewayChassis []l3ovn.GatewayChassis
	// OVNSBConnection is OVN's southbound database (needs OVNNBConnection);
	// with it, ports of ovn networks bind only to hosts with an OVN
	// chassis, without it to any host.
	OVNSBConnection string

	// Auth is AuthNoAuth (also when empty) or AuthKeystone.
	Auth string
	// Keystone configures AuthKeystone (its Log is set by Run).
	Keystone auth.KeystoneConfig
	// TLSCert and TLSKey (PEM files), if set, make the API serve HTTPS.
	TLSCert, TLSKey string
	// RateLimit is the sustained API requests per second allowed per
	// project (0: no limit); RateBurst the burst (default: RateLimit).
	RateLimit float64
	RateBurst int
	// RateLimitExemptAdmin exempts admin identities from the rate limit.
	RateLimitExemptAdmin bool
	// AccessLog logs one line per API request at Info level.
	AccessLog bool
	// PolicyFile is a YAML file of policy rules overriding Neutron's
	// defaults (internal/policy); empty: the defaults. A bad file stops
	// start-up with every problem in it.
	PolicyFile string
}

// Run serves the API until ctx is cancelled, then shuts down cleanly:
// in-flight requests finish (up to 10 s) before etcd is closed.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if os.Getenv("GOGC") == "" {
		// The watch cache is most of the heap and lives long: collect at
		// 50% growth rather than 100% to keep the resident set small.
		debug.SetGCPercent(50)
	}
	// Every line logged with a request's context names its request id.
	log = slog.New(requestid.Handler(log.Handler()))
	authn, err := newAuthenticator(cfg, log)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	tlsConf, err := tlsConfig(cfg)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	pol, err := policy.Load(cfg.PolicyFile)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	serverID := newServerID()
	if cfg.Store.Identity == "" {
		cfg.Store.Identity = serverID // elections name the server leading
	}
	st, err := store.Open(ctx, cfg.Store, log)
	if err != nil {
		return err
	}
	defer st.Close()

	c := cache.New(st.Client, st.Prefix(), service.Kinds(), log)
	cacheCtx, stopCache := context.WithCancel(context.WithoutCancel(ctx))
	cacheDone := make(chan struct{})
	go func() { defer close(cacheDone); c.Run(cacheCtx) }()
	defer func() { stopCache(); <-cacheDone }()

	select {
	case <-c.Ready():
	case <-ctx.Done():
		return nil
	}
	var ready atomic.Bool
	drivers := map[string]l3.Driver{}
	svcOpts := []service.Option{service.WithDrivers(drivers), service.WithPolicy(pol)}
	if cfg.OVNSBConnection != "" && cfg.OVNNBConnection == "" {
		return errors.New("server: --ovn-sb-connection needs --ovn-nb-connection")
	}
	if cfg.OVNNBConnection != "" {
		// Ports of geneve, vlan and flat networks bind with vif_type ovs.
		var hostOK func(string) bool
		if cfg.OVNSBConnection != "" {
			sb, err := ovsdb.Dial(cfg.OVNSBConnection, ovsdb.Options{Logger: log.With("component", "ovn-sb")})
			if err != nil {
				return fmt.Errorf("server: --ovn-sb-connection: %w", err)
			}
			defer sb.Close()
			hosts, err := chassis.Watch(cacheCtx, sb)
			if err != nil {
				return fmt.Errorf("server: %w", err)
			}
			hostOK = hosts.Has
		}
		svcOpts = append(svcOpts, service.WithOVN(hostOK))
	}
	svc := service.New(cfg.Service, st, c, log, svcOpts...)
	drivers["routed"] = routed.New(svc)
	drivers[external.Name] = external.New(external.Options{Secret: cfg.ExternalSecret, Log: log})
	var nb *ovsdb.Client
	var netSync *netsync.Syncer
	if cfg.OVNNBConnection != "" {
		if nb, err = ovsdb.Dial(cfg.OVNNBConnection, ovsdb.Options{Logger: log.With("component", "ovn-nb")}); err != nil {
			return fmt.Errorf("server: --ovn-nb-connection: %w", err)
		}
		defer nb.Close()
		d, err := l3ovn.New(cacheCtx, nb, l3ovn.Options{GatewayChassis: cfg.OVNGatewayChassis, Log: log.With("component", "l3-ovn")})
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		drivers[l3ovn.Name] = d
		// The ovn network backend: switches, ports, DHCP and security groups.
		netSync = netsync.New(nb, netsync.CacheSource(c), netsync.Config{BaseMAC: cfg.Service.BaseMAC, Status: svc, Log: log.With("component", "ovn-netsync")})
		netSync.Watch(c)
	}
	for name, d := range cfg.ExtraDrivers {
		drivers[name] = d
	}
	for _, p := range cfg.Service.Providers {
		if _, ok := drivers[p.Driver]; !ok && p.ServiceType == l3.ServiceType {
			if p.Driver == l3ovn.Name {
				return fmt.Errorf("server: service provider %s uses the ovn driver, which needs --ovn-nb-connection", p.Name)
			}
			return fmt.Errorf("server: service provider %s: no L3 driver named %q (drivers: routed, external, ovn)", p.Name, p.Driver)
		}
	}

	// The L3 reconciler is singleton work: one per cluster, leader-elected.
	rec := reconciler.New(svc, log.With("component", "l3-reconciler"), reconciler.Options{})
	svc.OnRouterChange(rec.Enqueue)
	rec.Watch(drivers)
	recDone := make(chan struct{})
	go func() {
		defer close(recDone)
		st.RunElected(cacheCtx, "l3-reconciler", log, rec.Run)
	}()
	defer func() { stopCache(); <-recDone }()
	if netSync != nil {
		// The ovn network backend is singleton work as well.
		syncDone := make(chan struct{})
		go func() {
			defer close(syncDone)
			st.RunElected(cacheCtx, "ovn-netsync", log, netSync.Run)
		}()
		defer func() { stopCache(); <-syncDone }()
	}
	// Ready once serving, and while etcd confirms this server's registration.
	var reg *registry
	isReady := func() bool { return ready.Load() && reg.healthy() }
	status := &statusHandler{st: st, cache: c, kinds: kindNames(service.Kinds()), self: serverID, log: log}
	api := apiserver.New(svc, authn, log, apiserver.Options{
		Ready: isReady, AgentTokens: auth.AgentTokens{Secret: []byte(cfg.AgentSecret)},
		RateLimiter: rateLimiter(cfg), RateLimitExemptAdmin: cfg.RateLimitExemptAdmin, AccessLog: cfg.AccessLog,
		Routes: []apiserver.Route{status.route()}})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	// Register in etcd (GET /spinel/v1/status lists the live servers).
	hostname, _ := os.Hostname()
	reg, ka, err := register(cacheCtx, st, ServerInfo{ID: serverID, Hostname: hostname, Listen: ln.Addr().String(),
		Version: version(), StartedAt: time.Now().UTC().Format(time.RFC3339), EtcdMember: st.MemberName()}, log)
	if err != nil {
		ln.Close()
		return err
	}
	regDone := make(chan struct{})
	go func() { defer close(regDone); reg.run(cacheCtx, ka) }()
	defer func() { stopCache(); <-regDone }()
	hs := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, TLSConfig: tlsConf}
	errc := make(chan error, 1)
	go func() {
		if tlsConf != nil {
			errc <- hs.ServeTLS(ln, "", "") // the certificate is in TLSConfig
			return
		}
		errc <- hs.Serve(ln)
	}()
	ready.Store(true)
	log.Info("spinel server ready", "listen", ln.Addr().String(), "etcd", etcdDesc(cfg.Store), "server_id", serverID)
	if cfg.OnListen != nil {
		cfg.OnListen(ln.Addr())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	ready.Store(false)
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}

func etcdDesc(c store.Config) string {
	if len(c.Endpoints) == 0 {
		return "embedded:" + c.DataDir
	}
	return fmt.Sprint(c.Endpoints)
}
