package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/spinel-net/spinel/internal/osauth"
	"github.com/spinel-net/spinel/internal/server"
)

func newStatusCmd() *cobra.Command {
	var flags *osauth.Settings
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the deployment: servers, etcd members, agents and their BGP sessions, resource counts",
		Long: `Show the deployment as the server sees it: the live spinel servers (and
which singletons each leads), the etcd members and their health, the agents
with their BGP sessions, and the number of documents of each kind. Needs
admin credentials (GET /spinel/v1/status and /v2.0/agents), given as for the
other client commands (--url for a noauth server, OS_* variables or
clouds.yaml for Keystone); with none, http://127.0.0.1:9696 without auth.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := osauth.Resolve(osauth.Sources{Flags: *flags})
			if err != nil {
				return err
			}
			if _, e := s.Mode(); e != nil && s.URL == "" {
				s.URL = "http://127.0.0.1:9696"
			}
			sess, err := osauth.Connect(cmd.Context(), s)
			if err != nil {
				return err
			}
			api := &apiClient{sess: sess}
			get := func(path string, v any) error {
				if err := api.do(cmd.Context(), "GET", path, nil, v); err != nil {
					return fmt.Errorf("GET %s: %w", path, err)
				}
				return nil
			}
			out := cmd.OutOrStdout()
			var st server.Status
			if err := get(server.StatusPath, &st); err != nil {
				return err
			}
			printServers(out, st)
			fmt.Fprintln(out)
			printMembers(out, st.Etcd)
			fmt.Fprintln(out)
			var agents struct {
				Agents []struct {
					Host           string         `json:"host"`
					Alive          bool           `json:"alive"`
					AdminStateUp   bool           `json:"admin_state_up"`
					Heartbeat      string         `json:"heartbeat_timestamp"`
					Configurations map[string]any `json:"configurations"`
				} `json:"agents"`
			}
			if err := get("/v2.0/agents", &agents); err != nil {
				return err
			}
			sort.Slice(agents.Agents, func(i, j int) bool { return agents.Agents[i].Host < agents.Agents[j].Host })
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "HOST\tALIVE\tENABLED\tPORTS\tADVERTISED\tBGP SESSIONS")
			for _, a := range agents.Agents {
				var sessions []string
				if peers, ok := a.Configurations["bgp_peers"].([]any); ok {
					for _, p := range peers {
						pm, _ := p.(map[string]any)
						sessions = append(sessions, fmt.Sprintf("%v(%v) %v sent=%v recv=%v", pm["interface"], pm["peer"], pm["state"], pm["prefixes_sent"], pm["prefixes_received"]))
					}
				}
				if len(sessions) == 0 {
					sessions = []string{"-"}
				}
				fmt.Fprintf(tw, "%s\t%v\t%v\t%v\t%v\t%s\n", a.Host, a.Alive, a.AdminStateUp, a.Configurations["ports"], a.Configurations["advertised_prefixes"], strings.Join(sessions, "; "))
			}
			tw.Flush()
			fmt.Fprintln(out)
			printResources(out, st)
			return nil
		},
	}
	flags = connFlags(cmd)
	cmd.Flags().StringVar(&flags.Token, "token", "", "a token to send (as --os-token)")
	return cmd
}

func printServers(w io.Writer, st server.Status) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tLISTEN\tETCD MEMBER\tSTARTED\tVERSION\tLEADS")
	for _, s := range st.Servers {
		id := s.ID
		if id == st.Server {
			id += " (answering)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", id, s.Listen, dash(s.EtcdMember), s.StartedAt, s.Version, dash(strings.Join(s.Leads, ",")))
	}
	tw.Flush()
}

func printMembers(w io.Writer, e server.EtcdStatus) {
	if e.Error != "" {
		fmt.Fprintf(w, "etcd members: %s\n", e.Error)
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ETCD MEMBER\tID\tCLIENT URLS\tHEALTH\tLEADER\tREVISION\tDB SIZE")
	for _, m := range e.Members {
		health := "healthy"
		if !m.Healthy {
			health = "UNHEALTHY: " + m.Error
		}
		leader := ""
		if m.Leader {
			leader = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", dash(m.Name), m.ID, dash(strings.Join(m.ClientURLs, ",")), health, dash(leader), m.Revision, size(m.DBSize))
	}
	tw.Flush()
}

func printResources(w io.Writer, st server.Status) {
	kinds := make([]string, 0, len(st.Resources))
	for k := range st.Resources {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "%-20s %d\n", k, st.Resources[k])
	}
	fmt.Fprintf(w, "%-20s %d\n", "(etcd revision)", st.Revision)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func size(b int64) string {
	if b < 1<<20 {
		return fmt.Sprintf("%d KiB", b>>10)
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
