package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/spinel-net/spinel/internal/auth"
)

func newAgentTokenCmd() *cobra.Command {
	var host, secret string
	cmd := &cobra.Command{
		Use:   "agent-token",
		Short: "Print the credential of the spinel agent of one host",
		Long: `Print the per-host token a spinel agent presents to the servers. It derives
from the servers' --agent-secret (env SPINEL_AGENT_SECRET) and the host name,
and lets its bearer read and report for that host only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if secret == "" {
				secret = os.Getenv("SPINEL_AGENT_SECRET")
			}
			if secret == "" || host == "" {
				return errors.New("agent-token needs --host and --agent-secret (or SPINEL_AGENT_SECRET)")
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), auth.AgentTokens{Secret: []byte(secret)}.Issue(host))
			return err
		},
	}
	cmd.Flags().StringVar(&host, "host", "", "the hypervisor's host name (binding:host_id)")
	cmd.Flags().StringVar(&secret, "agent-secret", "", "the servers' agent secret")
	return cmd
}
