package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spinel-net/spinel/internal/agent"
	"github.com/spinel-net/spinel/internal/agent/bgp"
	"github.com/spinel-net/spinel/internal/agent/dataplane"
	"github.com/spinel-net/spinel/internal/agent/dhcp"
	"github.com/spinel-net/spinel/internal/agent/dhcp6"
	"github.com/spinel-net/spinel/internal/agent/firewall"
	"github.com/spinel-net/spinel/internal/agent/metadata"
	"github.com/spinel-net/spinel/internal/agent/nat"
	"github.com/spinel-net/spinel/internal/agent/ra"
	"github.com/spinel-net/spinel/internal/config"
)

func newAgentCmd() *cobra.Command {
	var (
		cfg                 agent.Config
		configFile          string
		tokenFile           string
		listen              string
		logLevel, logFormat string
		novaURL, mdSecret   string
		bgpCfg              bgp.Config
		routerID            string
		uplinks             []string
		cloudPrefixes       []string
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the hypervisor agent (routed networks)",
		Long: `Run spinel's hypervisor agent: it follows this host's desired state from the
servers and programs the taps, routes, neighbours and gateways of routed ports,
reporting port status back. Flags may also come from SPINEL_* variables or the
YAML file given by --config.`,
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
			if cfg.Host == "" {
				if cfg.Host, err = os.Hostname(); err != nil {
					return err
				}
			}
			if cfg.Token == "" && tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return err
				}
				cfg.Token = strings.TrimSpace(string(b))
			}
			if cfg.Token == "" {
				return errors.New("agent: --token or --token-file is required (see spinel agent-token)")
			}
			dp, err := dataplane.New(dataplane.Config{}, log.With("component", "dataplane"))
			if err != nil {
				return fmt.Errorf("agent: %w", err)
			}
			defer dp.Close()
			dh := dhcp.New(dhcp.Config{}, log.With("component", "dhcp"))
			defer dh.Close()
			fw, err := firewall.New(log.With("component", "firewall"))
			if err != nil {
				return fmt.Errorf("agent: %w", err)
			}
			defer fw.Close()
			// Firewall first: a port's rules are in place before its route
			// makes it reachable.
			r6 := ra.New(ra.Config{}, log.With("component", "ra"))
			defer r6.Close()
			d6 := dhcp6.New(dhcp6.Config{}, log.With("component", "dhcp6"))
			defer d6.Close()
			progs := []agent.Programmer{agent.Firewall{F: fw}, agent.Routes{D: dp}, dh, r6, d6}
			if novaURL != "" {
				md, err := metadata.New(metadata.Config{NovaURL: novaURL, Secret: mdSecret}, log.With("component", "metadata"))
				if err != nil {
					return fmt.Errorf("agent: %w", err)
				}
				defer md.Close()
				progs = append(progs, md)
			}
			a := agent.New(cfg, log.With("host", cfg.Host), progs...)
			var cloud []netip.Prefix
			for _, c := range cloudPrefixes {
				p, err := netip.ParsePrefix(c)
				if err != nil {
					return fmt.Errorf("agent: --cloud-prefix %q: %w", c, err)
				}
				cloud = append(cloud, p)
			}
			nt, err := nat.New(nat.Config{CloudPrefixes: cloud}, log.With("component", "nat"))
			if err != nil {
				return fmt.Errorf("agent: %w", err)
			}
			defer nt.Close()
			a.WithNAT(nt)
			if bgpCfg.ASN != 0 {
				sp, extra, err := newSpeaker(bgpCfg, routerID, uplinks, log.With("component", "bgp"))
				if err != nil {
					return err
				}
				a.WithAdvertiser(sp, extra, func() []agent.PeerStatus {
					var out []agent.PeerStatus
					for _, p := range sp.Peers() {
						out = append(out, agent.PeerStatus{Interface: p.Interface, Peer: p.Peer, State: p.State,
							UptimeSec: p.Uptime.Seconds(), Sent: p.Sent, Received: p.Received})
					}
					return out
				})
				go func() {
					// Supervise the speaker: an error (a netlink watch that
					// overflowed, say) restarts it as a graceful restart,
					// the ToRs keeping its routes meanwhile.
					for ctx := cmd.Context(); ctx.Err() == nil; {
						err := sp.Run(ctx)
						if ctx.Err() != nil {
							return
						}
						log.Error("bgp speaker stopped; restarting it", "err", err)
						select {
						case <-time.After(time.Second):
						case <-ctx.Done():
						}
					}
				}()
			}
			if listen != "" {
				srv := &http.Server{Addr: listen, Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
				go srv.ListenAndServe()
				defer srv.Shutdown(context.Background())
			}
			log.Info("spinel agent starting", "host", cfg.Host, "servers", cfg.Servers)
			return a.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML configuration file (env SPINEL_CONFIG)")
	f.StringVar(&cfg.Host, "host", "", "this hypervisor's host name, as in binding:host_id (default: the system host name)")
	f.StringSliceVar(&cfg.Servers, "server", []string{"http://127.0.0.1:9696"}, "spinel server URLs, tried in turn")
	f.StringVar(&cfg.Token, "token", "", "this host's agent token (spinel agent-token)")
	f.StringVar(&tokenFile, "token-file", "", "file holding this host's agent token")
	f.StringVar(&listen, "listen", "127.0.0.1:9697", "local address of /healthz, /readyz and /metrics (empty: off)")
	f.StringVar(&novaURL, "nova-metadata-url", "", "Nova metadata API URL; when set, the agent proxies 169.254.169.254:80 to it")
	f.StringVar(&mdSecret, "metadata-secret", "", "shared secret for X-Instance-ID-Signature (Nova's metadata_proxy_shared_secret)")
	f.StringSliceVar(&cloudPrefixes, "cloud-prefix", []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}, "the cloud's own address space: traffic from a VM with a floating IP to these keeps its fixed IP (no SNAT)")
	f.Uint32Var(&bgpCfg.ASN, "bgp-asn", 0, "this hypervisor's BGP ASN (0: no BGP)")
	f.StringVar(&routerID, "bgp-router-id", "", "BGP router id: the host's loopback IPv4 address, also advertised as a /32")
	f.StringSliceVar(&uplinks, "uplink", nil, "an uplink and its ToR: IFACE:PEER_IP:PEER_ASN, or IFACE:unnumbered:PEER_ASN for a session over IPv6 link-local addresses carrying IPv4 and IPv6 (repeatable)")
	f.DurationVar(&bgpCfg.Keepalive, "bgp-keepalive", 3*time.Second, "BGP keepalive")
	f.DurationVar(&bgpCfg.Hold, "bgp-hold", 9*time.Second, "BGP hold time")
	f.StringVar(&bgpCfg.Password, "bgp-password", "", "BGP TCP MD5 password")
	f.DurationVar(&cfg.Heartbeat, "heartbeat", 10*time.Second, "report interval")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

// newSpeaker builds the BGP speaker from the agent's flags.
func newSpeaker(cfg bgp.Config, routerID string, uplinks []string, log *slog.Logger) (*bgp.Speaker, []netip.Prefix, error) {
	rid, err := netip.ParseAddr(routerID)
	if err != nil || !rid.Is4() {
		return nil, nil, fmt.Errorf("agent: --bgp-router-id must be an IPv4 address, not %q", routerID)
	}
	cfg.RouterID = rid
	for _, u := range uplinks {
		up, err := parseUplink(u)
		if err != nil {
			return nil, nil, err
		}
		cfg.Uplinks = append(cfg.Uplinks, up)
	}
	sp, err := bgp.New(cfg, log)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: %w", err)
	}
	return sp, []netip.Prefix{netip.PrefixFrom(rid, 32)}, nil
}

// parseUplink parses IFACE:PEER:ASN. PEER is the neighbour's IPv4 or IPv6
// address, or "unnumbered" (or empty) for a session over the link's IPv6
// link-local addresses carrying IPv4 and IPv6.
func parseUplink(u string) (bgp.Uplink, error) {
	i, j := strings.IndexByte(u, ':'), strings.LastIndexByte(u, ':')
	if i <= 0 || j == i {
		return bgp.Uplink{}, fmt.Errorf("agent: --uplink %q: want IFACE:PEER_IP:PEER_ASN or IFACE:unnumbered:PEER_ASN", u)
	}
	up := bgp.Uplink{Interface: u[:i]}
	asn, err := strconv.ParseUint(u[j+1:], 10, 32)
	if err != nil || asn == 0 {
		return bgp.Uplink{}, fmt.Errorf("agent: --uplink %q: bad ASN %q", u, u[j+1:])
	}
	up.PeerASN = uint32(asn)
	switch peer := u[i+1 : j]; peer {
	case "", "unnumbered":
	default:
		a, err := netip.ParseAddr(peer)
		if err != nil {
			return bgp.Uplink{}, fmt.Errorf("agent: --uplink %q: %w", u, err)
		}
		up.PeerAddress = a
	}
	return up, nil
}
