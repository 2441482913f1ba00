package cli

import (
	"context"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/spinel-net/spinel/internal/clientout"
)

var portRes = &resource{
	singular: "port", plural: "ports", path: "/v2.0/ports", title: "Port",
	show: map[string]func(any) string{"admin_state_up": adminState},
	// The openstack CLI shows these fields under its SDK's names.
	rename: map[string]string{
		"binding:host_id": "binding_host_id", "binding:profile": "binding_profile", "binding:vif_details": "binding_vif_details",
		"binding:vif_type": "binding_vif_type", "binding:vnic_type": "binding_vnic_type",
		"security_groups": "security_group_ids",
	},
}

func newPortCmd() *cobra.Command {
	group, flags := newResourceGroup("port", "Ports: list, show, create, set, delete")
	r := portRes

	fs := genericList(group, flags, r, listSpec{use: "list", short: "List ports", args: cobra.NoArgs,
		query: func(ctx context.Context, c *apiClient, fs *pflag.FlagSet, _ []string, q url.Values) error {
			if n, _ := fs.GetString("network"); n != "" {
				id, err := c.findID(ctx, networkRes, n)
				if err != nil {
					return err
				}
				q.Set("network_id", id)
			}
			for _, f := range [][2]string{{"device-owner", "device_owner"}, {"device-id", "device_id"}, {"host", "binding:host_id"}, {"mac-address", "mac_address"}, {"status", "status"}} {
				if v, _ := fs.GetString(f[0]); v != "" {
					q.Set(f[1], v)
				}
			}
			ips, _ := fs.GetStringArray("fixed-ip")
			for _, ip := range ips {
				kv, err := parseKV("fixed-ip", ip, []string{"subnet", "ip-address"}, nil)
				if err != nil {
					return err
				}
				if s := kv["subnet"]; s != "" {
					id, err := c.findID(ctx, subnetRes, s)
					if err != nil {
						return err
					}
					q.Add("fixed_ips", "subnet_id="+id)
				}
				if a := kv["ip-address"]; a != "" {
					q.Add("fixed_ips", "ip_address="+a)
				}
			}
			tagFilters(fs, q)
			return nil
		},
		cols: func(fs *pflag.FlagSet, _ []string) []listCol {
			cols := []listCol{{header: "ID", key: "id"}, {header: "Name", key: "name"}, {header: "MAC Address", key: "mac_address"},
				{header: "Fixed IP Addresses", key: "fixed_ips"}, {header: "Status", key: "status"}}
			if long, _ := fs.GetBool("long"); long {
				cols = append(cols, listCol{header: "Security Groups", key: "security_groups"},
					listCol{header: "Device Owner", key: "device_owner"}, listCol{header: "Tags", key: "tags"})
			}
			return cols
		},
	})
	listFlags(fs, true)
	fs.String("network", "", "only ports of this network (name or id)")
	fs.String("device-owner", "", "only ports with this device owner")
	fs.String("device-id", "", "only ports of this device")
	fs.String("host", "", "only ports bound to this host")
	fs.String("mac-address", "", "only the port with this MAC address")
	fs.String("status", "", "only ports in this status")
	fs.StringArray("fixed-ip", nil, "only ports with this address: subnet=SUBNET,ip-address=IP (either key)")
	tagFilterFlags(fs)

	genericShow(group, flags, r, "port")

	var co clientout.Options
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a port", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := co.Check(); err != nil {
				return err
			}
			ctx, fs := cmd.Context(), cmd.Flags()
			netName, _ := fs.GetString("network")
			if netName == "" {
				return fmt.Errorf("--network is required")
			}
			body := map[string]any{"name": args[0]}
			if v, _ := fs.GetString("vnic-type"); v != "" {
				body["binding:vnic_type"] = v
			}
			c, err := connect(ctx, flags)
			if err != nil {
				return err
			}
			if err := portBody(ctx, c, fs, nil, body); err != nil {
				return err
			}
			if body["network_id"], err = c.findID(ctx, networkRes, netName); err != nil {
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
	fs.String("network", "", "network of the port (name or id; required)")
	fs.String("vnic-type", "", "VNIC type (normal, direct, ...)")
	portFlags(fs)
	tagFlags(fs, true)
	co.AddFlags(fs)
	group.AddCommand(create)

	var so clientout.Options
	set := &cobra.Command{
		Use: "set PORT", Short: "Change a port", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return setResource(cmd, flags, r, so, args[0], func(c *apiClient, cur, body map[string]any) error {
				setIf(cmd.Flags(), body, "name", "name")
				return portBody(cmd.Context(), c, cmd.Flags(), cur, body)
			})
		},
	}
	fs = set.Flags()
	fs.String("name", "", "new name")
	portFlags(fs)
	fs.Bool("no-allowed-address", false, "remove the allowed address pairs (before adding any --allowed-address)")
	tagFlags(fs, false)
	so.AddFlags(fs)
	group.AddCommand(set)

	genericDelete(group, flags, r, "port")
	return group
}

// portFlags registers the flags create and set share.
func portFlags(fs *pflag.FlagSet) {
	fs.String("description", "", "description")
	fs.StringArray("fixed-ip", nil, "address: subnet=SUBNET,ip-address=IP (either key; repeat for more)")
	fs.Bool("no-fixed-ip", false, "no addresses (set: remove them before adding any --fixed-ip)")
	fs.StringArray("security-group", nil, "security group (name or id; repeat for more)")
	fs.Bool("no-security-group", false, "no security groups (set: remove them before adding any --security-group)")
	fs.String("mac-address", "", "MAC address")
	fs.String("host", "", "bind the port to this host (binding:host_id)")
	fs.String("device", "", "device id")
	fs.String("device-owner", "", "device owner, e.g. compute:nova")
	fs.Bool("enable", false, "enable the port (admin_state_up)")
	fs.Bool("disable", false, "disable the port")
	fs.Bool("enable-port-security", false, "enable port security")
	fs.Bool("disable-port-security", false, "disable port security")
	fs.StringArray("allowed-address", nil, "allowed address pair ip-address=IP[,mac-address=MAC] (repeat for more)")
}

// portBody fills body from the flags portFlags registers; on set, cur is
// the port as it is (lists given are added to its lists).
func portBody(ctx context.Context, c *apiClient, fs *pflag.FlagSet, cur, body map[string]any) error {
	for _, f := range [][2]string{{"description", "description"}, {"mac-address", "mac_address"}, {"host", "binding:host_id"}, {"device", "device_id"}, {"device-owner", "device_owner"}} {
		setIf(fs, body, f[0], f[1])
	}
	for _, t := range [][3]string{{"admin_state_up", "enable", "disable"}, {"port_security_enabled", "enable-port-security", "disable-port-security"}} {
		if err := toggle(fs, body, t[0], t[1], t[2]); err != nil {
			return err
		}
	}
	existing := func(key, clearFlag string) []any {
		if cur == nil {
			return []any{}
		}
		if reset, _ := fs.GetBool(clearFlag); reset {
			return []any{}
		}
		l, _ := cur[key].([]any)
		return append([]any{}, l...)
	}
	ips, _ := fs.GetStringArray("fixed-ip")
	if reset, _ := fs.GetBool("no-fixed-ip"); len(ips) > 0 || reset {
		list := existing("fixed_ips", "no-fixed-ip")
		for _, ip := range ips {
			kv, err := parseKV("fixed-ip", ip, []string{"subnet", "ip-address"}, nil)
			if err != nil {
				return err
			}
			e := map[string]any{}
			if s := kv["subnet"]; s != "" {
				id, err := c.findID(ctx, subnetRes, s)
				if err != nil {
					return err
				}
				e["subnet_id"] = id
			}
			if a := kv["ip-address"]; a != "" {
				e["ip_address"] = a
			}
			list = append(list, e)
		}
		body["fixed_ips"] = list
	}
	sgs, _ := fs.GetStringArray("security-group")
	if reset, _ := fs.GetBool("no-security-group"); len(sgs) > 0 || reset {
		list := existing("security_groups", "no-security-group")
		for _, sg := range sgs {
			id, err := c.findID(ctx, securityGroupRes, sg)
			if err != nil {
				return err
			}
			list = append(list, id)
		}
		body["security_groups"] = list
	}
	pairs, _ := fs.GetStringArray("allowed-address")
	if reset, _ := fs.GetBool("no-allowed-address"); len(pairs) > 0 || reset {
		list := existing("allowed_address_pairs", "no-allowed-address")
		for _, p := range pairs {
			kv, err := parseKV("allowed-address", p, []string{"ip-address", "mac-address"}, []string{"ip-address"})
			if err != nil {
				return err
			}
			e := map[string]any{"ip_address": kv["ip-address"]}
			if m := kv["mac-address"]; m != "" {
				e["mac_address"] = m
			}
			list = append(list, e)
		}
		body["allowed_address_pairs"] = list
	}
	return nil
}
