package cli

import (
	"github.com/spf13/cobra"

	"github.com/spinel-net/spinel/internal/lab"
)

func newLabCmd() *cobra.Command {
	var o lab.Options
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Build a routed fabric of network namespaces with FRR ToRs, a server and agents (root)",
		Long: `spinel lab builds, on this machine, two FRR ToRs, an "internet", N dual-homed
hypervisors each running a spinel agent, a spinel server on a separate
management network, and through the API an external network, a tenant
network, a router, one port per VM (a namespace on its tap, addressed by
DHCP) and a floating IP. Needs root and Debian's frr, iproute2, busybox and
iputils-ping. Everything it creates carries a random prefix recorded in
--dir, and "down" removes exactly that.`,
	}
	cmd.PersistentFlags().StringVar(&o.Dir, "dir", lab.DefaultDir, "state, configuration and logs of the lab")
	up := &cobra.Command{
		Use:   "up",
		Short: "Build the lab",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			return lab.Up(cmd.Context(), o)
		},
	}
	up.Flags().IntVar(&o.Hypervisors, "hypervisors", 2, "number of hypervisors")
	up.Flags().IntVar(&o.VMsPerHypervisor, "vms-per-hypervisor", 1, "VMs on each hypervisor")
	up.Flags().StringVar(&o.BGP, "bgp", "auto", "pass BGP flags to the agents: auto (if the agent has them), on or off")
	up.Flags().StringVar(&o.Uplinks, "uplinks", "unnumbered", "fabric links: unnumbered (IPv6 link-local, sessions carry IPv4 and IPv6) or numbered (IPv4 /31s, IPv4 only)")
	up.Flags().StringVar(&o.Binary, "binary", "", "spinel binary for the server and agents (default: this one)")
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the ToRs' BGP sessions and routes and a reachability matrix",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			return lab.Status(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop and remove everything the lab created (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			return lab.Down(cmd.Context(), o)
		},
	}
	cmd.AddCommand(up, status, down)
	return cmd
}
