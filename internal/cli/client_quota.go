package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"

	"github.com/spf13/cobra"

	"github.com/spinel-net/spinel/internal/clientout"
	"github.com/spinel-net/spinel/internal/osauth"
)

// quotaNames maps Neutron's quota keys to the openstack CLI's names: the
// option and show field (networks, floating-ips, secgroups) and the list
// column.
var quotaNames = []struct{ api, field, header, detail string }{
	{"floatingip", "floating-ips", "Floating IPs", "floating_ips"},
	{"network", "networks", "Networks", "networks"},
	{"port", "ports", "Ports", "ports"},
	{"router", "routers", "Routers", "routers"},
	{"security_group", "secgroups", "Security Groups", "security_groups"},
	{"security_group_rule", "secgroup-rules", "Security Group Rules", "security_group_rules"},
	{"subnet", "subnets", "Subnets", "subnets"},
}

// quotaProject resolves the project argument, the caller's own without one.
func quotaProject(ctx context.Context, c *apiClient, args []string) (string, error) {
	if len(args) == 0 || args[0] == "" {
		p, err := c.ownProject(ctx)
		if err != nil {
			return "", err
		}
		return p, nil
	}
	return c.project(ctx, args[0])
}

// showQuota prints a quota as the openstack CLI's quota show does.
func showQuota(cmd *cobra.Command, o clientout.Options, project string, q map[string]any) error {
	var cols []clientout.Column
	var vals []any
	fields := map[string]any{"project": project}
	for _, n := range quotaNames {
		if v, ok := q[n.api]; ok {
			fields[n.field] = v
		}
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cols = append(cols, clientout.Col(k))
		vals = append(vals, fields[k])
	}
	return clientout.Show(cmd.OutOrStdout(), o, cols, vals)
}

func newQuotaCmd() *cobra.Command {
	group, flags := newResourceGroup("quota", "Quotas: list, show, set, delete")

	var lo clientout.Options
	var detail bool
	var listProject string
	list := &cobra.Command{
		Use: "list", Short: "List the projects with quotas set (admin), or one project's usage with --detail", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lo.Check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := connect(ctx, flags)
			if err != nil {
				return err
			}
			if detail {
				p, err := quotaProject(ctx, c, []string{listProject})
				if err != nil {
					return err
				}
				var out struct {
					Quota map[string]struct {
						Limit    json.Number `json:"limit"`
						Used     json.Number `json:"used"`
						Reserved json.Number `json:"reserved"`
					} `json:"quota"`
				}
				if err := c.do(ctx, http.MethodGet, "/v2.0/quotas/"+url.PathEscape(p)+"/details", nil, &out); err != nil {
					return err
				}
				var rows []map[string]any
				for _, n := range quotaNames {
					if d, ok := out.Quota[n.api]; ok {
						rows = append(rows, map[string]any{"resource": n.detail, "in_use": d.Used, "reserved": d.Reserved, "limit": d.Limit})
					}
				}
				return printList(cmd, lo, []listCol{{header: "Resource", key: "resource"}, {header: "In Use", key: "in_use"},
					{header: "Reserved", key: "reserved"}, {header: "Limit", key: "limit"}}, rows)
			}
			var out struct {
				Quotas []map[string]any `json:"quotas"`
			}
			if err := c.do(ctx, http.MethodGet, "/v2.0/quotas", nil, &out); err != nil {
				return err
			}
			rows := out.Quotas
			if listProject != "" {
				p, err := c.project(ctx, listProject)
				if err != nil {
					return err
				}
				rows = nil
				for _, q := range out.Quotas {
					if q["project_id"] == p {
						rows = append(rows, q)
					}
				}
			}
			sort.Slice(rows, func(i, j int) bool { return str(rows[i]["project_id"]) < str(rows[j]["project_id"]) })
			cols := []listCol{{header: "Project ID", key: "project_id"}}
			for _, n := range quotaNames {
				cols = append(cols, listCol{header: n.header, key: n.api})
			}
			return printList(cmd, lo, cols, rows)
		},
	}
	list.Flags().BoolVar(&detail, "detail", false, "a project's limits and usage (Resource, In Use, Reserved, Limit)")
	list.Flags().StringVar(&listProject, "project", "", "only this project (name or id; with --detail default: your own)")
	list.Flags().Bool("network", true, "accepted for compatibility: network quotas are the only ones")
	lo.AddFlags(list.Flags())
	group.AddCommand(list)

	var shO clientout.Options
	var def bool
	show := &cobra.Command{
		Use: "show [PROJECT]", Short: "Show a project's quotas (your own without PROJECT)", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := shO.Check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := connect(ctx, flags)
			if err != nil {
				return err
			}
			p, err := quotaProject(ctx, c, args)
			if err != nil {
				return err
			}
			path := "/v2.0/quotas/" + url.PathEscape(p)
			if def {
				path += "/default"
			}
			var out struct {
				Quota map[string]any `json:"quota"`
			}
			if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
				return err
			}
			return showQuota(cmd, shO, p, out.Quota)
		},
	}
	show.Flags().BoolVar(&def, "default", false, "the default quotas")
	shO.AddFlags(show.Flags())
	group.AddCommand(show)

	var setO clientout.Options
	set := &cobra.Command{
		Use: "set PROJECT", Short: "Set a project's quotas (admin; -1 is unlimited)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := setO.Check(); err != nil {
				return err
			}
			ctx, fs := cmd.Context(), cmd.Flags()
			body := map[string]any{}
			for _, n := range quotaNames {
				if fs.Changed(n.field) {
					v, _ := fs.GetInt(n.field)
					body[n.api] = v
				}
			}
			if len(body) == 0 {
				return fmt.Errorf("nothing to set: give at least one of --networks, --subnets, --ports, --routers, --floating-ips, --secgroups, --secgroup-rules")
			}
			c, err := connect(ctx, flags)
			if err != nil {
				return err
			}
			p, err := c.project(ctx, args[0])
			if err != nil {
				return err
			}
			var out struct {
				Quota map[string]any `json:"quota"`
			}
			if err := c.do(ctx, http.MethodPut, "/v2.0/quotas/"+url.PathEscape(p), map[string]any{"quota": body}, &out); err != nil {
				return err
			}
			return showQuota(cmd, setO, p, out.Quota)
		},
	}
	for _, n := range quotaNames {
		set.Flags().Int(n.field, 0, "limit of "+n.detail)
	}
	setO.AddFlags(set.Flags())
	group.AddCommand(set)

	group.AddCommand(&cobra.Command{
		Use: "delete PROJECT...", Short: "Reset projects' quotas to the defaults (admin)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return deleteQuotas(cmd, flags, args) },
	})
	return group
}

// deleteQuotas resets each project's quotas, going on after a failure.
func deleteQuotas(cmd *cobra.Command, flags *osauth.Settings, projects []string) error {
	ctx := cmd.Context()
	c, err := connect(ctx, flags)
	if err != nil {
		return err
	}
	var failed []string
	for _, name := range projects {
		p, err := c.project(ctx, name)
		if err == nil {
			err = c.do(ctx, http.MethodDelete, "/v2.0/quotas/"+url.PathEscape(p), nil, nil)
		}
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "Failed to delete quotas of project '%s': %v\n", name, err)
			failed = append(failed, err.Error())
		}
	}
	if len(failed) == 1 && len(projects) == 1 {
		return fmt.Errorf("%s", failed[0])
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d projects' quotas failed to delete", len(failed), len(projects))
	}
	return nil
}
