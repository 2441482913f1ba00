package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spinel-net/spinel/internal/auth"
	"github.com/spinel-net/spinel/internal/config"
	"github.com/spinel-net/spinel/internal/l3"
	l3ovn "github.com/spinel-net/spinel/internal/l3/ovn"
	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/service"
)

func newServerCmd() *cobra.Command {
	var (
		cfg                   server.Config
		configFile            string
		logLevel, logFormat   string
		vlanRanges, vniRanges []string
		quotas                map[string]int
		providers             []string
		gatewayChassis        []string
	)
	var checkConfig bool
	def := service.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Neutron v2.0 API server",
		Long: `Run the Neutron v2.0 API server. Without --etcd-endpoints it starts an
embedded etcd member in --data-dir. Every flag can also be set with a
SPINEL_* environment variable (--data-dir: SPINEL_DATA_DIR) or in the YAML
file given by --config, whose keys are the flag names; flags win over the
environment, which wins over the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configFile == "" {
				configFile = os.Getenv("SPINEL_CONFIG")
			}
			if err := config.Apply(cmd.Flags(), configFile); err != nil {
				return err
			}
			log, err := newLogger(cmd.ErrOrStderr(), logLevel, logFormat)
			if err != nil {
				return err
			}
			cfg.Service.VLANRanges, err = parseRanges(vlanRanges, true)
			if err != nil {
				return err
			}
			vni, err := parseRanges(vniRanges, true)
			if err != nil {
				return err
			}
			for k, v := range vni {
				cfg.Service.VNIRanges[k] = v
			}
			if len(providers) > 0 {
				if cfg.Service.Providers, err = parseProviders(providers); err != nil {
					return err
				}
			}
			if cfg.OVNGatewayChassis, err = l3ovn.ParseGatewayChassis(gatewayChassis); err != nil {
				return fmt.Errorf("--ovn-gateway-chassis: %w", err)
			}
			for k, v := range quotas {
				if !contains(service.QuotaResources, k) {
					return fmt.Errorf("--default-quota: unknown resource %q", k)
				}
				cfg.Service.DefaultQuotas[k] = v
			}
			if checkConfig {
				if err := server.Check(cfg); err != nil {
					return fmt.Errorf("configuration invalid:\n%w", err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), "configuration OK")
				return nil
			}
			return server.Run(cmd.Context(), cfg, log)
		},
	}
	cfg.Service = def
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML configuration file (env SPINEL_CONFIG)")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:9696", "address of the Neutron API")
	f.StringVar(&cfg.Store.DataDir, "data-dir", "/var/lib/spinel", "data directory of the embedded etcd member")
	f.StringSliceVar(&cfg.Store.Endpoints, "etcd-endpoints", nil, "external etcd cluster endpoints (default: run an embedded member)")
	f.StringVar(&cfg.Store.CertFile, "etcd-cert", "", "client certificate for the etcd cluster (embedded cluster: also the member's certificate on https client URLs)")
	f.StringVar(&cfg.Store.KeyFile, "etcd-key", "", "client key for the etcd cluster")
	f.StringVar(&cfg.Store.CAFile, "etcd-ca", "", "CA bundle of the etcd cluster (embedded cluster: clients of the member must present a certificate it signed)")
	f.StringVar(&cfg.Store.Prefix, "etcd-prefix", "/spinel", "key prefix in etcd")
	f.StringVar(&cfg.Store.ListenClient, "etcd-listen-client", "", "also serve the embedded etcd to clients on this URL (e.g. http://127.0.0.1:2379)")
	f.StringVar(&cfg.Store.Name, "etcd-name", "spinel", "name of the embedded etcd member (its entry in --etcd-initial-cluster)")
	f.StringVar(&cfg.Store.InitialCluster, "etcd-initial-cluster", "", "embedded etcd cluster, name=peer-url,... (e.g. a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380); default: a single member on unix sockets")
	f.StringVar(&cfg.Store.InitialClusterState, "etcd-initial-cluster-state", "new", "new, or existing to join a running cluster (after etcdctl member add)")
	f.StringSliceVar(&cfg.Store.ListenPeerURLs, "etcd-listen-peer-urls", nil, "where the embedded member listens for its peers (default: its URL in --etcd-initial-cluster)")
	f.StringSliceVar(&cfg.Store.AdvertisePeerURLs, "etcd-initial-advertise-peer-urls", nil, "the embedded member's peer URLs as its peers reach them (default: its URL in --etcd-initial-cluster)")
	f.StringSliceVar(&cfg.Store.ListenClientURLs, "etcd-listen-client-urls", nil, "where the embedded member serves etcd clients besides the unix socket in --data-dir (e.g. http://10.0.0.1:2379)")
	f.StringSliceVar(&cfg.Store.AdvertiseClientURLs, "etcd-advertise-client-urls", nil, "the embedded member's client URLs as the other servers reach them, to fail over to (default: --etcd-listen-client-urls)")
	f.StringVar(&cfg.Store.PeerCertFile, "etcd-peer-cert", "", "TLS certificate of the embedded member for its peers (https peer URLs)")
	f.StringVar(&cfg.Store.PeerKeyFile, "etcd-peer-key", "", "TLS key of the embedded member for its peers")
	f.StringVar(&cfg.Store.PeerCAFile, "etcd-peer-ca", "", "CA that signs the peers' certificates (peers must present one)")
	f.BoolVar(&cfg.Store.UnsafeNoFsync, "etcd-unsafe-no-fsync", false, "disable fsync in the embedded etcd (tests only: loses data on power failure)")
	f.StringVar(&cfg.NoAuthProject, "noauth-project", "admin", "project of admin requests without X-Project-Id")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	f.IntVar(&cfg.Service.DefaultMTU, "global-physnet-mtu", def.DefaultMTU, "MTU of the physical network; network MTUs derive from it")
	f.StringVar(&cfg.Service.DefaultNetworkType, "default-network-type", def.DefaultNetworkType, "provider:network_type of networks created without provider attributes")
	f.StringVar(&cfg.Service.BaseMAC, "base-mac", def.BaseMAC, "base of generated MAC addresses (the first three bytes are kept)")
	f.StringSliceVar(&vlanRanges, "network-vlan-ranges", nil, "VLAN physical networks, physnet[:min:max] (with a range: tenant networks are allocated from it)")
	f.StringSliceVar(&cfg.Service.FlatNetworks, "flat-networks", def.FlatNetworks, "physical networks usable by flat networks (* for any, empty to disable)")
	f.StringSliceVar(&vniRanges, "vni-ranges", nil, "geneve/vxlan id ranges, type:min:max (default 1-65535 each)")
	f.StringToIntVar(&quotas, "default-quota", nil, "default quotas, e.g. network=100,port=500 (-1 unlimited)")
	f.StringSliceVar(&providers, "service-provider", nil, "service providers, service_type:name:driver[:default] (default L3_ROUTER_NAT:routed:routed:default); drivers: routed, external, ovn")
	f.StringVar(&cfg.AgentSecret, "agent-secret", "", "secret from which per-host agent tokens derive (spinel agent-token); without it agents are refused")
	f.StringVar(&cfg.ExternalSecret, "external-driver-secret", "", "HMAC secret of the external L3 driver for profiles without their own")
	f.StringVar(&cfg.OVNNBConnection, "ovn-nb-connection", "", "OVN northbound database, unix:PATH or tcp:HOST:PORT (comma-separated for a cluster); enables the ovn backends")
	f.StringVar(&cfg.OVNSBConnection, "ovn-sb-connection", "", "OVN southbound database (with --ovn-nb-connection): ports of ovn networks then bind only to hosts with an OVN chassis")
	f.StringSliceVar(&gatewayChassis, "ovn-gateway-chassis", nil, "gateway chassis of ovn routers, name[:priority] (highest first when no priority is given); two or more make every ovn router HA")
	f.StringVar(&cfg.Auth, "auth", server.AuthNoAuth, "authentication: noauth (trust X-Project-Id/X-Roles) or keystone (X-Auth-Token validated by Keystone v3)")
	f.StringVar(&cfg.Keystone.URL, "keystone-url", "", "Keystone's public endpoint, e.g. http://keystone:5000/v3 (--auth keystone)")
	f.StringVar(&cfg.Keystone.Username, "keystone-username", "", "spinel's service user in Keystone (needs the service or admin role in its project)")
	f.StringVar(&cfg.Keystone.Password, "keystone-password", "", "password of the service user (prefer SPINEL_KEYSTONE_PASSWORD or the config file)")
	f.StringVar(&cfg.Keystone.ProjectName, "keystone-project", "service", "project of the service user's token")
	f.StringVar(&cfg.Keystone.UserDomainName, "keystone-user-domain", "Default", "domain of the service user")
	f.StringVar(&cfg.Keystone.ProjectDomainName, "keystone-project-domain", "Default", "domain of the service user's project")
	f.DurationVar(&cfg.Keystone.CacheTime, "token-cache-time", auth.DefaultTokenCacheTime, "how long a validated token is trusted without asking Keystone again (never past its expiry; a revoked token keeps working this long; 0 disables the cache)")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate (chain) of the API: serve HTTPS")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	f.Float64Var(&cfg.RateLimit, "rate-limit", 0, "API requests per second allowed per project, sustained (0: no limit); over it: 429 with Retry-After")
	f.IntVar(&cfg.RateBurst, "rate-burst", 0, "API requests a project may make at once (default: --rate-limit, at least 1)")
	f.BoolVar(&cfg.RateLimitExemptAdmin, "rate-limit-exempt-admin", false, "admin requests bypass --rate-limit")
	f.BoolVar(&cfg.AccessLog, "access-log", false, "log every API request at info level (method, path, status, duration, project, user, request id)")
	f.StringVar(&cfg.PolicyFile, "policy-file", "", "YAML file of policy rules overriding Neutron's defaults (oslo.policy syntax; see docs/policy.md); a bad file stops start-up")
	f.BoolVar(&checkConfig, "check-config", false, "validate the configuration (flags, environment, file, TLS files, Keystone settings) and exit: 0 and \"configuration OK\", or 1 and the errors; opens neither etcd nor a port")
	f.MarkHidden("etcd-unsafe-no-fsync")
	return cmd
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseProviders parses Neutron-style service_type:name:driver[:default]
// entries, refusing duplicate names or drivers and several defaults per
// service type, as Neutron does at start-up.
func parseProviders(in []string) ([]l3.Provider, error) {
	var out []l3.Provider
	names, drivers, defaults := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, e := range in {
		parts := strings.Split(e, ":")
		if len(parts) < 3 || len(parts) > 4 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return nil, fmt.Errorf("service provider %q: want service_type:name:driver[:default]", e)
		}
		p := l3.Provider{ServiceType: parts[0], Name: strings.ToLower(parts[1]), Driver: parts[2]}
		if len(parts) == 4 {
			if parts[3] != "default" {
				return nil, fmt.Errorf("service provider %q: the fourth field must be empty or 'default'", e)
			}
			p.Default = true
		}
		if names[p.ServiceType+":"+p.Name] || drivers[p.Driver] {
			return nil, fmt.Errorf("service provider %q: duplicate name or driver", e)
		}
		if p.Default && defaults[p.ServiceType] {
			return nil, fmt.Errorf("service provider %q: several defaults for %s", e, p.ServiceType)
		}
		names[p.ServiceType+":"+p.Name], drivers[p.Driver] = true, true
		defaults[p.ServiceType] = defaults[p.ServiceType] || p.Default
		out = append(out, p)
	}
	return out, nil
}

// parseRanges parses name:min:max entries.
func parseRanges(in []string, needName bool) (map[string][2]int, error) {
	out := map[string][2]int{}
	for _, r := range in {
		parts := strings.Split(r, ":")
		if len(parts) == 1 && parts[0] != "" {
			out[parts[0]] = [2]int{} // known, without ranges
			continue
		}
		if len(parts) != 3 {
			return nil, fmt.Errorf("range %q: want name:min:max", r)
		}
		lo, err1 := strconv.Atoi(parts[1])
		hi, err2 := strconv.Atoi(parts[2])
		if err1 != nil || err2 != nil || lo < 1 || hi < lo {
			return nil, fmt.Errorf("range %q: bad bounds", r)
		}
		out[parts[0]] = [2]int{lo, hi}
	}
	return out, nil
}
