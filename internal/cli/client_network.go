package cli

import (
	"context"
	"net/url"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/spinel-net/spinel/internal/clientout"
)

var networkRes = &resource{
	singular: "network", plural: "networks", path: "/v2.0/networks", title: "Network",
	show: map[string]func(any) string{
		"admin_state_up":  adminState,
		"router:external": routerExternal,
	},
}

// routerExternal renders router:external as the openstack CLI does.
func routerExternal(v any) string {
	if b, ok := v.(bool); ok && b {
		return "External"
	}
	return "Internal"
}

func newNetworkCmd() *cobra.Command {
	group, flags := newResourceGroup("network", "Networks: list, show, create, set, delete")
	r := networkRes

	fs := genericList(group, flags, r, listSpec{use: "list", short: "List networks", args: cobra.NoArgs,
		query: func(_ context.Context, _ *apiClient, fs *pflag.FlagSet, _ []string, q url.Values) error {
			for _, t := range [][3]string{{"router:external", "external", "internal"}, {"shared", "share", "no-share"}, {"admin_state_up", "enable", "disable"}} {
				if err := toggleQuery(fs, q, t[0], t[1], t[2]); err != nil {
					return err
				}
			}
			if v, _ := fs.GetString("status"); v != "" {
				q.Set("status", v)
			}
			if v, _ := fs.GetString("provider-network-type"); v != "" {
				q.Set("provider:network_type", v)
			}
			tagFilters(fs, q)
			return nil
		},
		cols: func(fs *pflag.FlagSet, _ []string) []listCol {
			if long, _ := fs.GetBool("long"); long {
				return []listCol{
					{header: "ID", key: "id"}, {header: "Name", key: "name"}, {header: "Status", key: "status"},
					{header: "Project", key: "project_id"}, {header: "State", key: "admin_state_up", human: adminState},
					{header: "Shared", key: "shared"}, {header: "Subnets", key: "subnets"},
					{header: "Network Type", key: "provider:network_type"},
					{header: "Router Type", key: "router:external", human: routerExternal},
					{header: "Availability Zones", key: "availability_zones"}, {header: "Tags", key: "tags"},
				}
			}
			return []listCol{{header: "ID", key: "id"}, {header: "Name", key: "name"}, {header: "Subnets", key: "subnets"}}
		},
	})
	listFlags(fs, true)
	fs.Bool("external", false, "only external networks")
	fs.Bool("internal", false, "only internal networks")
	fs.Bool("share", false, "only shared networks")
	fs.Bool("no-share", false, "only networks not shared")
	fs.Bool("enable", false, "only enabled networks")
	fs.Bool("disable", false, "only disabled networks")
	fs.String("status", "", "only networks in this status (ACTIVE, BUILD, DOWN, ERROR)")
	fs.String("provider-network-type", "", "only networks of this type")
	tagFilterFlags(fs)

	genericShow(group, flags, r, "network")

	var co clientout.Options
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a network", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := co.Check(); err != nil {
				return err
			}
			ctx, fs := cmd.Context(), cmd.Flags()
			body := map[string]any{"name": args[0]}
			if err := networkBody(fs, body); err != nil {
				return err
			}
			for _, p := range [][2]string{{"provider-network-type", "provider:network_type"}, {"provider-physical-network", "provider:physical_network"}, {"provider-segment", "provider:segmentation_id"}} {
				setIf(fs, body, p[0], p[1])
			}
			if azs, _ := fs.GetStringArray("availability-zone-hint"); len(azs) > 0 {
				body["availability_zone_hints"] = azs
			}
			c, err := connect(ctx, flags)
			if err != nil {
				return err
			}
			if err := projectField(ctx, c, fs, body); err != nil {
				return err
			}
			obj, err := c.createTagged(ctx, r, body, tagsFor(fs, nil))
			if err != nil {
				return err
			}
			return showResource(cmd, co, r, obj)
		},
	}
	fs = create.Flags()
	fs.String("project", "", "owner project (name or id)")
	networkFlags(fs)
	fs.String("provider-network-type", "", "network type (routed, geneve, vlan, flat)")
	fs.String("provider-physical-network", "", "physical network")
	fs.Int("provider-segment", 0, "segmentation id (VLAN id, VNI)")
	fs.StringArray("availability-zone-hint", nil, "availability zone hint (repeat for more)")
	tagFlags(fs, true)
	co.AddFlags(fs)
	group.AddCommand(create)

	var so clientout.Options
	set := &cobra.Command{
		Use: "set NETWORK", Short: "Change a network", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := so.Check(); err != nil {
				return err
			}
			return setResource(cmd, flags, r, so, args[0], func(_ *apiClient, _, body map[string]any) error {
				setIf(cmd.Flags(), body, "name", "name")
				return networkBody(cmd.Flags(), body)
			})
		},
	}
	fs = set.Flags()
	fs.String("name", "", "new name")
	networkFlags(fs)
	tagFlags(fs, false)
	so.AddFlags(fs)
	group.AddCommand(set)

	genericDelete(group, flags, r, "network")
	return group
}

// networkFlags registers the flags create and set share.
func networkFlags(fs *pflag.FlagSet) {
	fs.String("description", "", "description")
	fs.Bool("enable", false, "enable the network (admin_state_up)")
	fs.Bool("disable", false, "disable the network")
	fs.Bool("share", false, "share the network with every project")
	fs.Bool("no-share", false, "do not share the network")
	fs.Bool("external", false, "an external network (router:external)")
	fs.Bool("internal", false, "an internal network")
	fs.Int("mtu", 0, "MTU")
	fs.Bool("enable-port-security", false, "port security on by default for its ports")
	fs.Bool("disable-port-security", false, "port security off by default for its ports")
}

// networkBody fills body from the flags networkFlags registers.
func networkBody(fs *pflag.FlagSet, body map[string]any) error {
	setIf(fs, body, "description", "description")
	setIf(fs, body, "mtu", "mtu")
	for _, t := range [][3]string{
		{"admin_state_up", "enable", "disable"}, {"shared", "share", "no-share"},
		{"router:external", "external", "internal"}, {"port_security_enabled", "enable-port-security", "disable-port-security"},
	} {
		if err := toggle(fs, body, t[0], t[1], t[2]); err != nil {
			return err
		}
	}
	return nil
}
