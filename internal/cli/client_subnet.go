package cli

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/spinel-net/spinel/internal/clientout"
)

var subnetRes = &resource{
	singular: "subnet", plural: "subnets", path: "/v2.0/subnets", title: "Subnet",
	show: map[string]func(any) string{
		"allocation_pools": allocationPools,
		"host_routes":      hostRoutes,
	},
}

// allocationPools renders pools as start-end,start-end.
func allocationPools(v any) string {
	pools, _ := v.([]any)
	out := make([]string, 0, len(pools))
	for _, p := range pools {
		m, _ := p.(map[string]any)
		out = append(out, str(m["start"])+"-"+str(m["end"]))
	}
	return strings.Join(out, ",")
}

// hostRoutes renders host routes one per line, nexthop shown as gateway
// (the --host-route option's key).
func hostRoutes(v any) string {
	routes, _ := v.([]any)
	out := make([]string, 0, len(routes))
	for _, r := range routes {
		m, _ := r.(map[string]any)
		out = append(out, clientout.FormatDict(map[string]any{"destination": m["destination"], "gateway": m["nexthop"]}))
	}
	return strings.Join(out, "\n")
}

func newSubnetCmd() *cobra.Command {
	group, flags := newResourceGroup("subnet", "Subnets: list, show, create, set, delete")
	r := subnetRes

	fs := genericList(group, flags, r, listSpec{use: "list", short: "List subnets", args: cobra.NoArgs,
		query: func(ctx context.Context, c *apiClient, fs *pflag.FlagSet, _ []string, q url.Values) error {
			if n, _ := fs.GetString("network"); n != "" {
				id, err := c.findID(ctx, networkRes, n)
				if err != nil {
					return err
				}
				q.Set("network_id", id)
			}
			if fs.Changed("ip-version") {
				v, _ := fs.GetInt("ip-version")
				q.Set("ip_version", strconv.Itoa(v))
			}
			if v, _ := fs.GetString("subnet-range"); v != "" {
				q.Set("cidr", v)
			}
			if v, _ := fs.GetString("gateway"); v != "" {
				q.Set("gateway_ip", v)
			}
			if err := toggleQuery(fs, q, "enable_dhcp", "dhcp", "no-dhcp"); err != nil {
				return err
			}
			tagFilters(fs, q)
			return nil
		},
		cols: func(fs *pflag.FlagSet, _ []string) []listCol {
			cols := []listCol{{header: "ID", key: "id"}, {header: "Name", key: "name"}, {header: "Network", key: "network_id"}, {header: "Subnet", key: "cidr"}}
			if long, _ := fs.GetBool("long"); long {
				cols = append(cols,
					listCol{header: "Project", key: "project_id"}, listCol{header: "DHCP", key: "enable_dhcp"},
					listCol{header: "Name Servers", key: "dns_nameservers"},
					listCol{header: "Allocation Pools", key: "allocation_pools", human: allocationPools},
					listCol{header: "Host Routes", key: "host_routes", human: hostRoutes},
					listCol{header: "IP Version", key: "ip_version"}, listCol{header: "Gateway", key: "gateway_ip"},
					listCol{header: "Service Types", key: "service_types"}, listCol{header: "Tags", key: "tags"})
			}
			return cols
		},
	})
	listFlags(fs, true)
	fs.String("network", "", "only subnets of this network (name or id)")
	fs.Int("ip-version", 0, "only subnets of this IP version (4 or 6)")
	fs.String("subnet-range", "", "only subnets with this CIDR")
	fs.String("gateway", "", "only subnets with this gateway")
	fs.Bool("dhcp", false, "only subnets with DHCP")
	fs.Bool("no-dhcp", false, "only subnets without DHCP")
	tagFilterFlags(fs)

	genericShow(group, flags, r, "subnet")

	var co clientout.Options
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a subnet", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := co.Check(); err != nil {
				return err
			}
			ctx, fs := cmd.Context(), cmd.Flags()
			body := map[string]any{"name": args[0]}
			cidr, _ := fs.GetString("subnet-range")
			if cidr == "" {
				return fmt.Errorf("--subnet-range is required")
			}
			body["cidr"] = cidr
			version := 4
			if fs.Changed("ip-version") {
				version, _ = fs.GetInt("ip-version")
			} else if p, err := netip.ParsePrefix(cidr); err == nil && p.Addr().Is6() {
				version = 6
			}
			body["ip_version"] = version
			for _, f := range []string{"ipv6-ra-mode", "ipv6-address-mode"} {
				setIf(fs, body, f, strings.ReplaceAll(f, "-", "_"))
			}
			if azs, _ := fs.GetStringArray("service-type"); len(azs) > 0 {
				body["service_types"] = azs
			}
			if err := subnetBody(fs, nil, body); err != nil {
				return err
			}
			c, err := connect(ctx, flags)
			if err != nil {
				return err
			}
			netName, _ := fs.GetString("network")
			if netName == "" {
				return fmt.Errorf("--network is required")
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
	fs.String("network", "", "network the subnet belongs to (name or id; required)")
	fs.String("subnet-range", "", "the subnet's CIDR, e.g. 10.0.0.0/24 (required)")
	fs.Int("ip-version", 0, "IP version, 4 or 6 (default: the CIDR's)")
	fs.String("ipv6-ra-mode", "", "IPv6 RA mode: dhcpv6-stateful, dhcpv6-stateless, slaac")
	fs.String("ipv6-address-mode", "", "IPv6 address mode: dhcpv6-stateful, dhcpv6-stateless, slaac")
	fs.StringArray("service-type", nil, "service type (repeat for more)")
	subnetFlags(fs, true)
	tagFlags(fs, true)
	co.AddFlags(fs)
	group.AddCommand(create)

	var so clientout.Options
	set := &cobra.Command{
		Use: "set SUBNET", Short: "Change a subnet", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return setResource(cmd, flags, r, so, args[0], func(_ *apiClient, cur, body map[string]any) error {
				setIf(cmd.Flags(), body, "name", "name")
				return subnetBody(cmd.Flags(), cur, body)
			})
		},
	}
	fs = set.Flags()
	fs.String("name", "", "new name")
	subnetFlags(fs, false)
	tagFlags(fs, false)
	so.AddFlags(fs)
	group.AddCommand(set)

	genericDelete(group, flags, r, "subnet")
	return group
}

// subnetFlags registers the flags create and set share.
func subnetFlags(fs *pflag.FlagSet, create bool) {
	fs.String("description", "", "description")
	fs.String("gateway", "", "gateway address, or none (create: auto picks the first address)")
	fs.StringArray("allocation-pool", nil, "allocation pool start=IP,end=IP (repeat for more)")
	fs.StringArray("dns-nameserver", nil, "DNS server (repeat for more)")
	fs.StringArray("host-route", nil, "host route destination=CIDR,gateway=IP (repeat for more)")
	fs.Bool("dhcp", false, "enable DHCP")
	fs.Bool("no-dhcp", false, "disable DHCP")
	if !create {
		fs.Bool("no-allocation-pool", false, "remove the allocation pools (before adding any --allocation-pool)")
		fs.Bool("no-dns-nameservers", false, "remove the DNS servers (before adding any --dns-nameserver)")
		fs.Bool("no-host-route", false, "remove the host routes (before adding any --host-route)")
	}
}

// subnetBody fills body from the flags subnetFlags registers; on set, cur
// is the subnet as it is (lists given are added to its lists).
func subnetBody(fs *pflag.FlagSet, cur, body map[string]any) error {
	setIf(fs, body, "description", "description")
	if err := toggle(fs, body, "enable_dhcp", "dhcp", "no-dhcp"); err != nil {
		return err
	}
	if g, _ := fs.GetString("gateway"); fs.Changed("gateway") {
		switch strings.ToLower(g) {
		case "none":
			body["gateway_ip"] = nil
		case "auto":
			if cur != nil {
				return fmt.Errorf("--gateway auto is for create only: give an address or none")
			}
		default:
			body["gateway_ip"] = g
		}
	}
	existing := func(key, clearFlag string) []any {
		if cur == nil {
			return nil
		}
		if reset, _ := fs.GetBool(clearFlag); reset {
			return []any{}
		}
		l, _ := cur[key].([]any)
		return append([]any{}, l...)
	}
	pools, _ := fs.GetStringArray("allocation-pool")
	if reset, _ := fs.GetBool("no-allocation-pool"); len(pools) > 0 || reset {
		list := existing("allocation_pools", "no-allocation-pool")
		for _, p := range pools {
			kv, err := parseKV("allocation-pool", p, []string{"start", "end"}, []string{"start", "end"})
			if err != nil {
				return err
			}
			list = append(list, map[string]any{"start": kv["start"], "end": kv["end"]})
		}
		body["allocation_pools"] = nonNil(list)
	}
	dns, _ := fs.GetStringArray("dns-nameserver")
	if reset, _ := fs.GetBool("no-dns-nameservers"); len(dns) > 0 || reset {
		list := existing("dns_nameservers", "no-dns-nameservers")
		for _, d := range dns {
			list = append(list, d)
		}
		body["dns_nameservers"] = nonNil(list)
	}
	routes, _ := fs.GetStringArray("host-route")
	if reset, _ := fs.GetBool("no-host-route"); len(routes) > 0 || reset {
		list := existing("host_routes", "no-host-route")
		for _, rt := range routes {
			kv, err := parseKV("host-route", rt, []string{"destination", "gateway"}, []string{"destination", "gateway"})
			if err != nil {
				return err
			}
			list = append(list, map[string]any{"destination": kv["destination"], "nexthop": kv["gateway"]})
		}
		body["host_routes"] = nonNil(list)
	}
	return nil
}

func nonNil(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}
