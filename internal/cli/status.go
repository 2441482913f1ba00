package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newStatusCmd() *cobra.Command {
	var url, token string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the fabric: agents, their BGP sessions and the counts of resources",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if url == "" {
				url = os.Getenv("SPINEL_URL")
			}
			if url == "" {
				url = "http://127.0.0.1:9696"
			}
			get := func(path string, v any) error {
				req, _ := http.NewRequestWithContext(cmd.Context(), "GET", strings.TrimRight(url, "/")+path, nil)
				if token != "" {
					req.Header.Set("X-Auth-Token", token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
				}
				return json.NewDecoder(resp.Body).Decode(v)
			}
			out := cmd.OutOrStdout()
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
			for _, coll := range []string{"networks", "subnets", "ports", "routers", "floatingips"} {
				var m map[string][]any
				if err := get("/v2.0/"+coll+"?fields=id", &m); err != nil {
					return err
				}
				fmt.Fprintf(out, "%-12s %d\n", coll, len(m[coll]))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "spinel server URL (default $SPINEL_URL or http://127.0.0.1:9696)")
	cmd.Flags().StringVar(&token, "token", "", "X-Auth-Token, if the server needs one")
	return cmd
}
