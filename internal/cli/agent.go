package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spinel-net/spinel/internal/agent"
	"github.com/spinel-net/spinel/internal/agent/dataplane"
	"github.com/spinel-net/spinel/internal/agent/dhcp"
	"github.com/spinel-net/spinel/internal/agent/firewall"
	"github.com/spinel-net/spinel/internal/agent/metadata"
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
			progs := []agent.Programmer{agent.Firewall{F: fw}, agent.Routes{D: dp}, dh}
			if novaURL != "" {
				md, err := metadata.New(metadata.Config{NovaURL: novaURL, Secret: mdSecret}, log.With("component", "metadata"))
				if err != nil {
					return fmt.Errorf("agent: %w", err)
				}
				defer md.Close()
				progs = append(progs, md)
			}
			a := agent.New(cfg, log.With("host", cfg.Host), progs...)
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
	f.DurationVar(&cfg.Heartbeat, "heartbeat", 10*time.Second, "report interval")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}
