package cli

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/spinel-net/spinel/internal/clientout"
)

var securityGroupRes = &resource{
	singular: "security_group", plural: "security_groups", path: "/v2.0/security-groups", title: "SecurityGroup",
	show:   map[string]func(any) string{"security_group_rules": sgRules},
	rename: map[string]string{"security_group_rules": "rules"},
}

var securityGroupRuleRes = &resource{
	singular: "security_group_rule", plural: "security_group_rules", path: "/v2.0/security-group-rules", title: "SecurityGroupRule",
	unnamed: true,
	rename:  map[string]string{"ethertype": "ether_type"}, // the openstack CLI's name
}

// sgRules renders a group's rules as the openstack CLI does: one per
// line, without empty fields and the group's and project's ids.
func sgRules(v any) string {
	rules, _ := v.([]any)
	lines := make([]string, 0, len(rules))
	for _, r := range rules {
		m, _ := r.(map[string]any)
		out := map[string]any{}
		for k, val := range m {
			switch k {
			case "security_group_id", "tenant_id", "project_id":
				continue
			}
			if empty(val) {
				continue
			}
			out[k] = val
		}
		lines = append(lines, clientout.FormatDict(out))
	}
	return strings.Join(lines, "\n")
}

// empty is Python's falsiness of a decoded JSON value.
func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return str(v) == "0"
}

func newSecurityGroupCmd() *cobra.Command {
	group, flags := newResourceGroup("security-group", "Security groups: list, show, create, set, delete")
	r := securityGroupRes

	fs := genericList(group, flags, r, listSpec{use: "list", short: "List security groups", args: cobra.NoArgs,
		query: func(_ context.Context, _ *apiClient, fs *pflag.FlagSet, _ []string, q url.Values) error {
			tagFilters(fs, q)
			return nil
		},
		cols: func(*pflag.FlagSet, []string) []listCol {
			return []listCol{{header: "ID", key: "id"}, {header: "Name", key: "name"}, {header: "Description", key: "description"},
				{header: "Project", key: "project_id"}, {header: "Tags", key: "tags"}}
		},
	})
	listFlags(fs, false)
	tagFilterFlags(fs)

	genericShow(group, flags, r, "group")

	var co clientout.Options
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a security group", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := co.Check(); err != nil {
				return err
			}
			ctx, fs := cmd.Context(), cmd.Flags()
			body := map[string]any{"name": args[0]}
			setIf(fs, body, "description", "description")
			if err := toggle(fs, body, "stateful", "stateful", "stateless"); err != nil {
				return err
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
	fs.String("description", "", "description")
	fs.Bool("stateful", false, "stateful (the default)")
	fs.Bool("stateless", false, "stateless")
	tagFlags(fs, true)
	co.AddFlags(fs)
	group.AddCommand(create)

	var so clientout.Options
	set := &cobra.Command{
		Use: "set GROUP", Short: "Change a security group", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return setResource(cmd, flags, r, so, args[0], func(_ *apiClient, _, body map[string]any) error {
				fs := cmd.Flags()
				setIf(fs, body, "name", "name")
				setIf(fs, body, "description", "description")
				return toggle(fs, body, "stateful", "stateful", "stateless")
			})
		},
	}
	fs = set.Flags()
	fs.String("name", "", "new name")
	fs.String("description", "", "description")
	fs.Bool("stateful", false, "stateful")
	fs.Bool("stateless", false, "stateless")
	tagFlags(fs, false)
	so.AddFlags(fs)
	group.AddCommand(set)

	genericDelete(group, flags, r, "group")
	return group
}

// isICMP reports whether protocol is ICMP (v4 or v6) by name or number.
func isICMP(protocol string) bool {
	switch protocol {
	case "icmp", "icmpv6", "ipv6-icmp", "1", "58":
		return true
	}
	return false
}

// isIPv6Protocol reports whether protocol implies IPv6.
func isIPv6Protocol(protocol string) bool {
	if strings.HasPrefix(protocol, "ipv6-") {
		return true
	}
	switch protocol {
	case "icmpv6", "41", "43", "44", "58", "59", "60":
		return true
	}
	return false
}

// portRange renders a rule's ports as the openstack CLI does: 22:22,
// 1000:2000, type=8:code=0 for ICMP, empty for none.
func portRange(rule map[string]any) any {
	lo, hi := str(rule["port_range_min"]), str(rule["port_range_max"])
	if isICMP(str(rule["protocol"])) {
		out := ""
		if lo != "" && lo != "0" {
			out = "type=" + lo
		}
		if hi != "" && hi != "0" {
			out += ":code=" + hi
		}
		return out
	}
	if lo == "" && hi == "" {
		return ""
	}
	if lo == "" {
		lo = hi
	}
	if hi == "" {
		hi = lo
	}
	return lo + ":" + hi
}

// ipRange is a rule's remote prefix, the whole address family when none.
func ipRange(rule map[string]any) any {
	if p := rule["remote_ip_prefix"]; p != nil {
		return p
	}
	switch rule["ethertype"] {
	case "IPv4":
		return "0.0.0.0/0"
	case "IPv6":
		return "::/0"
	}
	return nil
}

func newSecurityGroupRuleCmd() *cobra.Command {
	group, flags := newResourceGroup("security-group-rule", "Security group rules: list, show, create, delete")
	r := securityGroupRuleRes

	fs := genericList(group, flags, r, listSpec{use: "list [GROUP]", short: "List security group rules (of one group)", args: cobra.MaximumNArgs(1),
		query: func(ctx context.Context, c *apiClient, fs *pflag.FlagSet, args []string, q url.Values) error {
			if len(args) == 1 {
				id, err := c.findID(ctx, securityGroupRes, args[0])
				if err != nil {
					return err
				}
				q.Set("security_group_id", id)
			}
			if p, _ := fs.GetString("protocol"); p != "" && strings.ToLower(p) != "any" {
				q.Set("protocol", strings.ToLower(p))
			}
			if e, _ := fs.GetString("ethertype"); e != "" {
				q.Set("ethertype", ethertype(e))
			}
			in, _ := fs.GetBool("ingress")
			eg, _ := fs.GetBool("egress")
			switch {
			case in && eg:
				return fmt.Errorf("--ingress and --egress are mutually exclusive")
			case in:
				q.Set("direction", "ingress")
			case eg:
				q.Set("direction", "egress")
			}
			return nil
		},
		cols: func(_ *pflag.FlagSet, args []string) []listCol {
			cols := []listCol{{header: "ID", key: "id"}, {header: "IP Protocol", key: "protocol"}, {header: "Ethertype", key: "ethertype"},
				{header: "IP Range", get: ipRange, fields: []string{"remote_ip_prefix", "ethertype"}}, {header: "Port Range", get: portRange, fields: []string{"port_range_min", "port_range_max", "protocol"}}, {header: "Direction", key: "direction"},
				{header: "Remote Security Group", key: "remote_group_id"}, {header: "Remote Address Group", key: "remote_address_group_id"}}
			if len(args) == 0 {
				cols = append(cols, listCol{header: "Security Group", key: "security_group_id"})
			}
			return cols
		},
	})
	fs.String("project", "", "only rules of this project (name or id)")
	fs.String("protocol", "", "only rules of this IP protocol (tcp, udp, icmp, a number, or any)")
	fs.String("ethertype", "", "only rules of this ethertype (IPv4 or IPv6)")
	fs.Bool("ingress", false, "only rules for incoming traffic")
	fs.Bool("egress", false, "only rules for outgoing traffic")
	fs.Bool("long", false, "accepted for compatibility; changes nothing")

	genericShow(group, flags, r, "rule")

	var co clientout.Options
	create := &cobra.Command{
		Use: "create GROUP", Short: "Create a security group rule", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := co.Check(); err != nil {
				return err
			}
			ctx, fs := cmd.Context(), cmd.Flags()
			body, err := ruleBody(cmd)
			if err != nil {
				return err
			}
			c, err := connect(ctx, flags)
			if err != nil {
				return err
			}
			if body["security_group_id"], err = c.findID(ctx, securityGroupRes, args[0]); err != nil {
				return err
			}
			if rg, _ := fs.GetString("remote-group"); rg != "" {
				if body["remote_group_id"], err = c.findID(ctx, securityGroupRes, rg); err != nil {
					return err
				}
			}
			if err := projectField(ctx, c, fs, body); err != nil {
				return err
			}
			obj, err := c.create(ctx, r, body)
			if err != nil {
				return err
			}
			return showResource(cmd, co, r, obj)
		},
	}
	fs = create.Flags()
	fs.String("project", "", "owner project (name or id)")
	fs.String("description", "", "description")
	fs.String("protocol", "", "IP protocol: tcp, udp, icmp, ipv6-icmp, a number 0-255, or any (default any)")
	fs.String("dst-port", "", "destination port or range, e.g. 22 or 137:139 (TCP, UDP and other port protocols)")
	fs.Int("icmp-type", -1, "ICMP type")
	fs.Int("icmp-code", -1, "ICMP code")
	fs.String("remote-ip", "", "remote prefix (CIDR); default 0.0.0.0/0 or ::/0")
	fs.String("remote-group", "", "remote security group (name or id)")
	fs.Bool("ingress", false, "incoming traffic (the default)")
	fs.Bool("egress", false, "outgoing traffic")
	fs.String("ethertype", "", "IPv4 or IPv6 (default: from the protocol, else IPv4)")
	co.AddFlags(fs)
	group.AddCommand(create)

	genericDelete(group, flags, r, "rule")
	return group
}

// ethertype normalises IPv4/IPv6 in any case.
func ethertype(s string) string {
	switch strings.ToLower(s) {
	case "ipv4":
		return "IPv4"
	case "ipv6":
		return "IPv6"
	}
	return s
}

// ruleBody builds a rule from the create flags, as the openstack CLI does.
func ruleBody(cmd *cobra.Command) (map[string]any, error) {
	fs := cmd.Flags()
	body := map[string]any{}
	setIf(fs, body, "description", "description")
	proto, _ := fs.GetString("protocol")
	proto = strings.ToLower(proto)
	if proto == "any" {
		proto = ""
	}
	if proto != "" {
		body["protocol"] = proto
	} else {
		body["protocol"] = nil
	}
	in, _ := fs.GetBool("ingress")
	eg, _ := fs.GetBool("egress")
	if in && eg {
		return nil, fmt.Errorf("--ingress and --egress are mutually exclusive")
	}
	body["direction"] = "ingress"
	if eg {
		body["direction"] = "egress"
	}
	et := "IPv4"
	if e, _ := fs.GetString("ethertype"); e != "" {
		et = ethertype(e)
		if et != "IPv4" && et != "IPv6" {
			return nil, fmt.Errorf("--ethertype %q: IPv4 or IPv6", e)
		}
	} else if isIPv6Protocol(proto) {
		et = "IPv6"
	}
	body["ethertype"] = et
	dst, _ := fs.GetString("dst-port")
	icmpType, _ := fs.GetInt("icmp-type")
	icmpCode, _ := fs.GetInt("icmp-code")
	typeGiven, codeGiven := fs.Changed("icmp-type"), fs.Changed("icmp-code")
	if dst != "" && (typeGiven || codeGiven) {
		return nil, fmt.Errorf("--dst-port is not allowed with --icmp-type and --icmp-code")
	}
	if codeGiven && !typeGiven {
		return nil, fmt.Errorf("--icmp-code needs --icmp-type")
	}
	if (typeGiven || codeGiven) && !isICMP(proto) {
		return nil, fmt.Errorf("--icmp-type and --icmp-code need an ICMP protocol (--protocol icmp or ipv6-icmp)")
	}
	if dst != "" && !isICMP(proto) {
		lo, hi, err := parsePortRange(dst)
		if err != nil {
			return nil, err
		}
		body["port_range_min"], body["port_range_max"] = lo, hi
	}
	if typeGiven && icmpType >= 0 {
		body["port_range_min"] = icmpType
	}
	if codeGiven && icmpCode >= 0 {
		body["port_range_max"] = icmpCode
	}
	remoteIP, _ := fs.GetString("remote-ip")
	remoteGroup, _ := fs.GetString("remote-group")
	switch {
	case remoteIP != "" && remoteGroup != "":
		return nil, fmt.Errorf("--remote-ip and --remote-group are mutually exclusive")
	case remoteGroup != "":
		// resolved by the caller
	case remoteIP != "":
		body["remote_ip_prefix"] = remoteIP
	case et == "IPv4":
		body["remote_ip_prefix"] = "0.0.0.0/0"
	default:
		body["remote_ip_prefix"] = "::/0"
	}
	return body, nil
}

// parsePortRange parses 22 or 137:139.
func parsePortRange(s string) (int, int, error) {
	a, b, isRange := strings.Cut(s, ":")
	lo, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, fmt.Errorf("--dst-port %q: expected a port or a range like 137:139", s)
	}
	hi := lo
	if isRange {
		if hi, err = strconv.Atoi(b); err != nil {
			return 0, 0, fmt.Errorf("--dst-port %q: expected a port or a range like 137:139", s)
		}
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("--dst-port %q: the first port is greater than the last", s)
	}
	return lo, hi, nil
}
