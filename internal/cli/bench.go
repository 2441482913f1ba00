package cli

import (
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spinel-net/spinel/internal/bench"
)

func newBenchCmd() *cobra.Command {
	var (
		o         bench.Options
		resources []string
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a Neutron v2.0 API endpoint",
		Long: `Load-test any Neutron v2.0 API endpoint over plain HTTP: create, show,
list, update and delete networks, subnets and ports with --concurrency
workers sharing --count operations per phase, then print throughput and
latency percentiles per operation. With --list-size N it also creates ports
until N exist on one network and times listing them. Everything created is
deleted at the end.

Authentication: --token sends X-Auth-Token; otherwise, when OS_AUTH_URL is
set, a token is obtained by Keystone v3 password authentication from
OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, OS_USER_DOMAIN_NAME and
OS_PROJECT_DOMAIN_NAME. --project-id sends X-Project-Id (noauth mode).
The server's resident memory is read from {url}/metrics when it exports
process_resident_memory_bytes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if v := os.Getenv("SPINEL_URL"); v != "" && !cmd.Flags().Changed("url") {
				o.URL = v
			}
			for _, r := range resources {
				if r = strings.TrimSpace(r); r != "" {
					o.Resources = append(o.Resources, r)
				}
			}
			if o.Token == "" && os.Getenv("OS_AUTH_URL") != "" {
				o.Keystone = &bench.KeystoneAuth{
					AuthURL:           os.Getenv("OS_AUTH_URL"),
					Username:          os.Getenv("OS_USERNAME"),
					Password:          os.Getenv("OS_PASSWORD"),
					ProjectName:       os.Getenv("OS_PROJECT_NAME"),
					UserDomainName:    os.Getenv("OS_USER_DOMAIN_NAME"),
					ProjectDomainName: os.Getenv("OS_PROJECT_DOMAIN_NAME"),
				}
			}
			rep, err := bench.Run(cmd.Context(), o)
			if rep != nil {
				var werr error
				if asJSON {
					werr = rep.WriteJSON(cmd.OutOrStdout())
				} else {
					werr = rep.WriteTable(cmd.OutOrStdout())
				}
				if err == nil {
					err = werr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.URL, "url", "http://127.0.0.1:9696", "Neutron endpoint root, /v2.0 is appended (env SPINEL_URL)")
	f.StringVar(&o.Token, "token", "", "X-Auth-Token to send (default: Keystone auth when OS_AUTH_URL is set)")
	f.StringVar(&o.ProjectID, "project-id", "", "X-Project-Id to send (noauth mode)")
	f.IntVar(&o.Concurrency, "concurrency", bench.DefaultConcurrency, "concurrent workers per phase")
	f.IntVar(&o.Count, "count", bench.DefaultCount, "operations per phase (subnets: at most 4096)")
	f.StringSliceVar(&resources, "resources", slices.Clone(bench.AllResources), "resources to benchmark: network, subnet, port")
	f.IntVar(&o.ListSize, "list-size", 0, "if > 0, create ports until this many exist on one network and time listing them")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
