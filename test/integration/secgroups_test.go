package integration

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
)

// ruleView is a security group rule as the API shows it.
type ruleView struct {
	ID              string  `json:"id"`
	SecurityGroupID string  `json:"security_group_id"`
	ProjectID       string  `json:"project_id"`
	Direction       string  `json:"direction"`
	Ethertype       string  `json:"ethertype"`
	Protocol        *string `json:"protocol"`
	PortRangeMin    *int    `json:"port_range_min"`
	PortRangeMax    *int    `json:"port_range_max"`
	RemoteIPPrefix  *string `json:"remote_ip_prefix"`
	RemoteGroupID   *string `json:"remote_group_id"`
	Description     string  `json:"description"`
}

// key is a readable summary of the rule's defining attributes.
func (r ruleView) key() string {
	s := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	i := func(p *int) string {
		if p == nil {
			return "-"
		}
		return strconv.Itoa(*p)
	}
	return strings.Join([]string{r.Direction, r.Ethertype, s(r.Protocol), i(r.PortRangeMin), i(r.PortRangeMax), s(r.RemoteIPPrefix), s(r.RemoteGroupID)}, " ")
}

func ruleKeys(rs []ruleView) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.key()
	}
	sort.Strings(out)
	return out
}

// sgView is a security group as the API shows it.
type sgView struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Description    string     `json:"description"`
	ProjectID      string     `json:"project_id"`
	TenantID       string     `json:"tenant_id"`
	Stateful       bool       `json:"stateful"`
	Rules          []ruleView `json:"security_group_rules"`
	RevisionNumber int        `json:"revision_number"`
}

// sgBody is a CreateOptsBuilder sending an arbitrary group body.
type sgBody map[string]any

func (b sgBody) ToSecGroupCreateMap() (map[string]any, error) {
	return map[string]any{"security_group": map[string]any(b)}, nil
}

// ruleBody is a CreateOptsBuilder sending an arbitrary rule body (gophercloud
// omits zero ports, so ICMP type/code 0 need this).
type ruleBody map[string]any

func (b ruleBody) ToSecGroupRuleCreateMap() (map[string]any, error) {
	return map[string]any{"security_group_rule": map[string]any(b)}, nil
}

func createSG(t *testing.T, c *gophercloud.ServiceClient, name string) sgView {
	t.Helper()
	r := groups.Create(ctx(t), c, groups.CreateOpts{Name: name})
	return decodeAs[sgView](t, r.Err, r, "security_group", "creating security group "+name)
}

func getSG(t *testing.T, c *gophercloud.ServiceClient, id string) sgView {
	t.Helper()
	r := groups.Get(ctx(t), c, id)
	return decodeAs[sgView](t, r.Err, r, "security_group", "showing security group "+id)
}

func listSGs(t *testing.T, c *gophercloud.ServiceClient, opts groups.ListOpts) []sgView {
	t.Helper()
	return listAs[sgView](t, groups.List(c, opts), "security_groups")
}

func listRules(t *testing.T, c *gophercloud.ServiceClient, opts rules.ListOpts) []ruleView {
	t.Helper()
	return listAs[ruleView](t, rules.List(c, opts), "security_group_rules")
}

func createRule(t *testing.T, c *gophercloud.ServiceClient, opts rules.CreateOptsBuilder) ruleView {
	t.Helper()
	r := rules.Create(ctx(t), c, opts)
	return decodeAs[ruleView](t, r.Err, r, "security_group_rule", "creating rule")
}

func createRuleErr(t *testing.T, c *gophercloud.ServiceClient, opts rules.CreateOptsBuilder) error {
	t.Helper()
	r := rules.Create(ctx(t), c, opts)
	if r.Err == nil {
		x, _ := r.Extract()
		t.Fatalf("rule create succeeded (%+v), want an error", x)
	}
	return r.Err
}

// defaultSG lists c's groups (creating its default group) and returns the default one.
func defaultSG(t *testing.T, c *gophercloud.ServiceClient) sgView {
	t.Helper()
	for _, g := range listSGs(t, c, groups.ListOpts{}) {
		if g.Name == "default" {
			return g
		}
	}
	t.Fatal("no default security group")
	return sgView{}
}

// TestSecurityGroupDefault: a project's default group is created the
// first time it lists its groups, once, with Neutron's four rules
// (securitygroups_db.py create_security_group with default_sg: per
// ethertype an ingress rule from the group itself and an egress rule);
// it cannot be renamed (409 SecurityGroupCannotUpdateDefault) or deleted
// by a member (409 SecurityGroupCannotRemoveDefault); an admin may delete
// it, and the next list creates a new one.
func TestSecurityGroupDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	hP := projectHeaders("projP")

	sgs := listSGs(t, p, groups.ListOpts{})
	if len(sgs) != 1 {
		t.Fatalf("first list: %d groups", len(sgs))
	}
	d := sgs[0]
	if d.Name != "default" || d.Description != "Default security group" || d.ProjectID != "projP" || d.TenantID != "projP" || !d.Stateful {
		t.Errorf("default group %+v", d)
	}
	want := []string{
		"egress IPv4 - - - - -",
		"egress IPv6 - - - - -",
		"ingress IPv4 - - - - " + d.ID,
		"ingress IPv6 - - - - " + d.ID,
	}
	if got := ruleKeys(d.Rules); !slices.Equal(got, want) {
		t.Errorf("default rules %v, want %v", got, want)
	}
	for _, r := range d.Rules {
		if r.SecurityGroupID != d.ID || r.ProjectID != "projP" {
			t.Errorf("rule %+v", r)
		}
	}
	// Listing again does not make another.
	if again := listSGs(t, p, groups.ListOpts{}); len(again) != 1 || again[0].ID != d.ID {
		t.Errorf("second list: %+v", again)
	}
	if got := listRules(t, p, rules.ListOpts{SecGroupID: d.ID}); !slices.Equal(ruleKeys(got), want) {
		t.Errorf("rules listed %v", ruleKeys(got))
	}
	if got := getSG(t, p, d.ID); got.Name != "default" || len(got.Rules) != 4 {
		t.Errorf("show %+v", got)
	}

	// Renaming is refused; other changes are allowed.
	_, err := groups.Update(ctx(t), p, d.ID, groups.UpdateOpts{Name: "mine"}).Extract()
	ne := expectGCError(t, err, http.StatusConflict, "SecurityGroupCannotUpdateDefault")
	if ne.Message != "Updating default security group not allowed." {
		t.Errorf("message %q", ne.Message)
	}
	r := groups.Update(ctx(t), p, d.ID, groups.UpdateOpts{Description: ptr("changed")})
	if u := decodeAs[sgView](t, r.Err, r, "security_group", "updating default description"); u.Description != "changed" || u.Name != "default" {
		t.Errorf("after update %+v", u)
	}
	// A member may not delete it.
	ne = e.do("DELETE", "/v2.0/security-groups/"+d.ID, nil, hP).expectError(t, http.StatusConflict, "SecurityGroupCannotRemoveDefault")
	if ne.Message != "Insufficient rights for removing default security group." {
		t.Errorf("message %q", ne.Message)
	}
	getSG(t, p, d.ID)
	// The admin may; the next list creates a new default group.
	e.adminDo("DELETE", "/v2.0/security-groups/"+d.ID, nil).expect(t, http.StatusNoContent)
	if got := listRules(t, e.admin, rules.ListOpts{SecGroupID: d.ID}); len(got) != 0 {
		t.Errorf("rules of the deleted group remain: %v", ruleKeys(got))
	}
	nd := defaultSG(t, p)
	if nd.ID == d.ID || len(nd.Rules) != 4 {
		t.Errorf("new default %+v", nd)
	}
	// Creating a port creates a project's default group too.
	q := e.project("projQ")
	n, _ := netWithSubnet(t, q, "n", "10.50.0.0/24")
	pt := createPort(t, q, ports.CreateOpts{NetworkID: n.ID})
	if dq := defaultSG(t, q); !slices.Equal(pt.SecurityGroups, []string{dq.ID}) {
		t.Errorf("port groups %v, default %s", pt.SecurityGroups, dq.ID)
	}
	if got := listSGs(t, q, groups.ListOpts{}); len(got) != 1 {
		t.Errorf("Q has %d groups", len(got))
	}
}

// TestSecurityGroupCreate: a new group gets the two egress rules
// (securitygroups_db.py:118-134); the name "default" is refused (409
// SecurityGroupDefaultAlreadyExists); a group in use by a port cannot be
// deleted (409 SecurityGroupInUse); deleting a group deletes its rules.
func TestSecurityGroupCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	hP := projectHeaders("projP")

	web := createSG(t, p, "web")
	if web.Name != "web" || web.ProjectID != "projP" || !web.Stateful {
		t.Errorf("group %+v", web)
	}
	if got := ruleKeys(web.Rules); !slices.Equal(got, []string{"egress IPv4 - - - - -", "egress IPv6 - - - - -"}) {
		t.Errorf("new group rules %v", got)
	}
	// Creating it also created the default group.
	if got := listSGs(t, p, groups.ListOpts{}); len(got) != 2 {
		t.Errorf("P has %d groups, want web and default", len(got))
	}
	if got := listSGs(t, p, groups.ListOpts{Name: "web"}); len(got) != 1 || got[0].ID != web.ID {
		t.Errorf("name filter %+v", got)
	}

	_, err := groups.Create(ctx(t), p, groups.CreateOpts{Name: "default"}).Extract()
	ne := expectGCError(t, err, http.StatusConflict, "SecurityGroupDefaultAlreadyExists")
	if ne.Message != "Default security group already exists." {
		t.Errorf("message %q", ne.Message)
	}
	_, err = groups.Update(ctx(t), p, web.ID, groups.UpdateOpts{Name: "default"}).Extract()
	expectGCError(t, err, http.StatusConflict, "SecurityGroupDefaultAlreadyExists")
	r := groups.Update(ctx(t), p, web.ID, groups.UpdateOpts{Name: "www", Description: ptr("d")})
	if u := decodeAs[sgView](t, r.Err, r, "security_group", "renaming"); u.Name != "www" || u.Description != "d" || u.RevisionNumber <= web.RevisionNumber {
		t.Errorf("after rename %+v", u)
	}
	// stateful false.
	r2 := groups.Create(ctx(t), p, groups.CreateOpts{Name: "stateless", Stateful: ptr(false)})
	if sl := decodeAs[sgView](t, r2.Err, r2, "security_group", "stateless"); sl.Stateful {
		t.Errorf("stateless group is stateful")
	}

	// In use by a port.
	n, _ := netWithSubnet(t, p, "n", "10.51.0.0/24")
	pt := createPort(t, p, ports.CreateOpts{NetworkID: n.ID, SecurityGroups: &[]string{web.ID}})
	extra := createRule(t, p, rules.CreateOpts{SecGroupID: web.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4, Protocol: rules.ProtocolTCP, PortRangeMin: 80, PortRangeMax: 80})
	ne = e.do("DELETE", "/v2.0/security-groups/"+web.ID, nil, hP).expectError(t, http.StatusConflict, "SecurityGroupInUse")
	if ne.Message != "Security Group "+web.ID+" in use." {
		t.Errorf("message %q", ne.Message)
	}
	// Changing stateful while in use is refused as well (securitygroups_db.py:289-297).
	_, err = groups.Update(ctx(t), p, web.ID, groups.UpdateOpts{Stateful: ptr(false)}).Extract()
	expectGCError(t, err, http.StatusConflict, "SecurityGroupInUse")
	if _, err := updatePort(t, p, pt.ID, ports.UpdateOpts{SecurityGroups: &[]string{}}); err != nil {
		t.Fatal(err)
	}
	e.do("DELETE", "/v2.0/security-groups/"+web.ID, nil, hP).expect(t, http.StatusNoContent)
	e.do("GET", "/v2.0/security-groups/"+web.ID, nil, hP).expectError(t, http.StatusNotFound, "SecurityGroupNotFound")
	e.do("GET", "/v2.0/security-group-rules/"+extra.ID, nil, hP).expectError(t, http.StatusNotFound, "SecurityGroupRuleNotFound")
	if got := listRules(t, p, rules.ListOpts{SecGroupID: web.ID}); len(got) != 0 {
		t.Errorf("rules of the deleted group: %v", ruleKeys(got))
	}
	e.do("DELETE", "/v2.0/security-groups/"+web.ID, nil, hP).expectError(t, http.StatusNotFound, "SecurityGroupNotFound")
}

// TestSecurityGroupRules: rule creation, validation and Neutron's errors
// (neutron/db/securitygroups_db.py _validate_security_group_rule and the
// API converters), duplicates (409 SecurityGroupRuleExists, comparing
// protocols by number: _rule_to_key), rules are immutable (400), delete.
func TestSecurityGroupRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	hP := projectHeaders("projP")
	sg := createSG(t, p, "web")
	other := createSG(t, p, "other")

	ssh := createRule(t, p, rules.CreateOpts{SecGroupID: sg.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4,
		Protocol: rules.ProtocolTCP, PortRangeMin: 22, PortRangeMax: 22, RemoteIPPrefix: "10.0.0.0/8", Description: "ssh"})
	if ssh.key() != "ingress IPv4 tcp 22 22 10.0.0.0/8 -" || ssh.SecurityGroupID != sg.ID || ssh.ProjectID != "projP" || ssh.Description != "ssh" {
		t.Errorf("rule %+v (%s)", ssh, ssh.key())
	}
	rng := createRule(t, p, rules.CreateOpts{SecGroupID: sg.ID, Direction: rules.DirIngress, EtherType: rules.EtherType6,
		Protocol: rules.ProtocolUDP, PortRangeMin: 1000, PortRangeMax: 2000})
	if rng.key() != "ingress IPv6 udp 1000 2000 - -" {
		t.Errorf("rule %s", rng.key())
	}
	// ICMP: type and code in the port range fields.
	ping := createRule(t, p, ruleBody{"security_group_id": sg.ID, "direction": "ingress", "ethertype": "IPv4",
		"protocol": "icmp", "port_range_min": 8, "port_range_max": 0})
	if ping.key() != "ingress IPv4 icmp 8 0 - -" {
		t.Errorf("icmp rule %s", ping.key())
	}
	// From members of another group.
	fromOther := createRule(t, p, rules.CreateOpts{SecGroupID: sg.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4,
		Protocol: rules.ProtocolTCP, PortRangeMin: 5432, PortRangeMax: 5432, RemoteGroupID: other.ID})
	if fromOther.RemoteGroupID == nil || *fromOther.RemoteGroupID != other.ID || fromOther.RemoteIPPrefix != nil {
		t.Errorf("remote group rule %s", fromOther.key())
	}
	// A protocol by number, and a prefix without length.
	num := createRule(t, p, ruleBody{"security_group_id": sg.ID, "direction": "egress", "ethertype": "IPv4", "protocol": "47", "remote_ip_prefix": "192.0.2.7"})
	if num.key() != "egress IPv4 47 - - 192.0.2.7/32 -" {
		t.Errorf("rule %s", num.key())
	}

	bad := func(name string, body ruleBody, code int, typ string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			b := ruleBody{"security_group_id": sg.ID, "direction": "ingress", "ethertype": "IPv4"}
			for k, v := range body {
				b[k] = v
			}
			expectGCError(t, createRuleErr(t, p, b), code, typ)
		})
	}
	bad("invalid protocol", ruleBody{"protocol": "foo"}, http.StatusBadRequest, "SecurityGroupRuleInvalidProtocol")
	bad("protocol out of range", ruleBody{"protocol": "256"}, http.StatusBadRequest, "SecurityGroupRuleInvalidProtocol")
	bad("min > max", ruleBody{"protocol": "tcp", "port_range_min": 100, "port_range_max": 90}, http.StatusBadRequest, "SecurityGroupInvalidPortRange")
	bad("only min", ruleBody{"protocol": "tcp", "port_range_min": 100}, http.StatusBadRequest, "SecurityGroupInvalidPortRange")
	bad("port out of range", ruleBody{"protocol": "tcp", "port_range_min": 1, "port_range_max": 70000}, http.StatusBadRequest, "SecurityGroupInvalidPortValue")
	bad("ports without protocol", ruleBody{"port_range_min": 80, "port_range_max": 80}, http.StatusBadRequest, "SecurityGroupProtocolRequiredWithPorts")
	bad("icmp type out of range", ruleBody{"protocol": "icmp", "port_range_min": 300}, http.StatusBadRequest, "SecurityGroupInvalidIcmpValue")
	bad("ports for gre", ruleBody{"protocol": "gre", "port_range_min": 1, "port_range_max": 2}, http.StatusBadRequest, "SecurityGroupInvalidProtocolForPort")
	bad("v6 prefix on IPv4", ruleBody{"remote_ip_prefix": "2001:db8::/32"}, http.StatusBadRequest, "SecurityGroupRuleParameterConflict")
	bad("v4 prefix on IPv6", ruleBody{"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}, http.StatusBadRequest, "SecurityGroupRuleParameterConflict")
	bad("bad prefix", ruleBody{"remote_ip_prefix": "10.0.0.0/99"}, http.StatusBadRequest, "")
	bad("remote group and prefix", ruleBody{"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": other.ID}, http.StatusBadRequest, "SecurityGroupMultipleRemoteEntites")
	bad("bad direction", ruleBody{"direction": "sideways"}, http.StatusBadRequest, "")
	bad("bad ethertype", ruleBody{"ethertype": "IPv5"}, http.StatusBadRequest, "SecurityGroupRuleInvalidEtherType")
	bad("ipv6-icmp on IPv4", ruleBody{"protocol": "ipv6-icmp"}, http.StatusBadRequest, "SecurityGroupEthertypeConflictWithProtocol")
	bad("unknown remote group", ruleBody{"remote_group_id": "00000000-0000-0000-0000-000000000000"}, http.StatusNotFound, "SecurityGroupNotFound")
	bad("unknown group", ruleBody{"security_group_id": "00000000-0000-0000-0000-000000000000"}, http.StatusNotFound, "SecurityGroupNotFound")
	e.do("POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{"direction": "ingress"}}, hP).
		expectError(t, http.StatusBadRequest, "")

	// Duplicates, also spelled differently.
	for _, dup := range []ruleBody{
		{"protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.0.0.0/8"},
		{"protocol": "6", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.0.0.0/8"},
		{"protocol": "TCP", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.0.0.0/8", "description": "again"},
	} {
		b := ruleBody{"security_group_id": sg.ID, "direction": "ingress", "ethertype": "IPv4"}
		for k, v := range dup {
			b[k] = v
		}
		ne := expectGCError(t, createRuleErr(t, p, b), http.StatusConflict, "SecurityGroupRuleExists")
		if !strings.Contains(ne.Message, ssh.ID) {
			t.Errorf("SecurityGroupRuleExists message %q does not name %s", ne.Message, ssh.ID)
		}
	}
	// The default egress rules are duplicates too.
	expectGCError(t, createRuleErr(t, p, rules.CreateOpts{SecGroupID: sg.ID, Direction: rules.DirEgress, EtherType: rules.EtherType6}),
		http.StatusConflict, "SecurityGroupRuleExists")
	// The same rule in another group is fine.
	createRule(t, p, rules.CreateOpts{SecGroupID: other.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4,
		Protocol: rules.ProtocolTCP, PortRangeMin: 22, PortRangeMax: 22, RemoteIPPrefix: "10.0.0.0/8"})

	// The group shows its rules.
	g := getSG(t, p, sg.ID)
	if len(g.Rules) != 7 {
		t.Errorf("group has %d rules, want 7: %v", len(g.Rules), ruleKeys(g.Rules))
	}
	// Filters.
	if got := listRules(t, p, rules.ListOpts{SecGroupID: sg.ID, Protocol: "tcp"}); len(got) != 2 {
		t.Errorf("tcp rules %v", ruleKeys(got))
	}
	if got := listRules(t, p, rules.ListOpts{SecGroupID: sg.ID, Direction: "egress"}); len(got) != 3 {
		t.Errorf("egress rules %v", ruleKeys(got))
	}

	// Rules cannot be updated: their attributes are read-only
	// (neutron/api/v2/base.py:773-775, "Cannot update read-only attribute").
	for _, attrs := range []map[string]any{{"port_range_max": 23}, {"direction": "egress"}, {"remote_ip_prefix": "10.0.0.0/16"}} {
		e.do("PUT", "/v2.0/security-group-rules/"+ssh.ID, map[string]any{"security_group_rule": attrs}, hP).
			expectError(t, http.StatusBadRequest, "")
	}
	var shown struct {
		Rule ruleView `json:"security_group_rule"`
	}
	e.do("GET", "/v2.0/security-group-rules/"+ssh.ID, nil, hP).expect(t, http.StatusOK).into(t, &shown)
	if shown.Rule.key() != ssh.key() || shown.Rule.Description != "ssh" {
		t.Errorf("rule after refused updates %+v", shown.Rule)
	}

	// Delete.
	if err := rules.Delete(ctx(t), p, ssh.ID).ExtractErr(); err != nil {
		t.Fatalf("deleting rule: %v", err)
	}
	e.do("GET", "/v2.0/security-group-rules/"+ssh.ID, nil, hP).expectError(t, http.StatusNotFound, "SecurityGroupRuleNotFound")
	expectGCError(t, rules.Delete(ctx(t), p, ssh.ID).ExtractErr(), http.StatusNotFound, "SecurityGroupRuleNotFound")
	// Now it can be created again.
	createRule(t, p, rules.CreateOpts{SecGroupID: sg.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4,
		Protocol: rules.ProtocolTCP, PortRangeMin: 22, PortRangeMax: 22, RemoteIPPrefix: "10.0.0.0/8"})
}

// TestSecurityGroupIsolation: another project neither sees a group nor
// its rules, nor adds rules to it or uses it (404).
func TestSecurityGroupIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.project("projA"), e.project("projB")
	hB := projectHeaders("projB")
	sg := createSG(t, a, "web")
	rule := createRule(t, a, rules.CreateOpts{SecGroupID: sg.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4,
		Protocol: rules.ProtocolTCP, PortRangeMin: 443, PortRangeMax: 443})

	bs := listSGs(t, b, groups.ListOpts{})
	if len(bs) != 1 || bs[0].Name != "default" || bs[0].ProjectID != "projB" {
		t.Errorf("B lists %+v, want only its default group", bs)
	}
	for _, r := range listRules(t, b, rules.ListOpts{}) {
		if r.SecurityGroupID != bs[0].ID {
			t.Errorf("B sees rule %+v", r)
		}
	}
	e.do("GET", "/v2.0/security-groups/"+sg.ID, nil, hB).expectError(t, http.StatusNotFound, "SecurityGroupNotFound")
	e.do("PUT", "/v2.0/security-groups/"+sg.ID, map[string]any{"security_group": map[string]any{"name": "x"}}, hB).expectError(t, http.StatusNotFound, "SecurityGroupNotFound")
	e.do("DELETE", "/v2.0/security-groups/"+sg.ID, nil, hB).expectError(t, http.StatusNotFound, "SecurityGroupNotFound")
	e.do("GET", "/v2.0/security-group-rules/"+rule.ID, nil, hB).expectError(t, http.StatusNotFound, "SecurityGroupRuleNotFound")
	e.do("DELETE", "/v2.0/security-group-rules/"+rule.ID, nil, hB).expectError(t, http.StatusNotFound, "SecurityGroupRuleNotFound")
	expectGCError(t, createRuleErr(t, b, rules.CreateOpts{SecGroupID: sg.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4}),
		http.StatusNotFound, "SecurityGroupNotFound")
	// Nor as a remote group of its own rule.
	expectGCError(t, createRuleErr(t, b, rules.CreateOpts{SecGroupID: bs[0].ID, Direction: rules.DirIngress, EtherType: rules.EtherType4, RemoteGroupID: sg.ID}),
		http.StatusNotFound, "SecurityGroupNotFound")
	// Nor on a port.
	n, _ := netWithSubnet(t, b, "n", "10.52.0.0/24")
	expectGCError(t, createPortErr(t, b, ports.CreateOpts{NetworkID: n.ID, SecurityGroups: &[]string{sg.ID}}), http.StatusNotFound, "SecurityGroupNotFound")
	if got := getSG(t, a, sg.ID); len(got.Rules) != 3 {
		t.Errorf("A's group has %d rules", len(got.Rules))
	}
	// The admin sees both projects' groups.
	if got := listSGs(t, e.admin, groups.ListOpts{ProjectID: "projA"}); len(got) != 2 {
		t.Errorf("admin lists %d groups of A", len(got))
	}
}

// TestSecurityGroupDefaultNameAnyCase_Neutron: the name check is
// case-insensitive ("Default", "DEFAULT" are refused with 409
// SecurityGroupDefaultAlreadyExists, on create and update) and applies to
// every name in a PUT, so even {"name": "default"} on the default group
// is refused; spinel refuses only "default", and only as a change.
//
// Neutron: neutron/extensions/securitygroup.py:201-206
// (_validate_name_not_default: "if data.lower() == 'default': raise
// SecurityGroupDefaultAlreadyExists"), the validator of the name
// attribute, which allows POST and PUT (:225-229).
func TestSecurityGroupDefaultNameAnyCase_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	t.Run("create", func(t *testing.T) {
		_, err := groups.Create(ctx(t), p, groups.CreateOpts{Name: "Default"}).Extract()
		expectGCError(t, err, http.StatusConflict, "SecurityGroupDefaultAlreadyExists")
	})
	t.Run("update", func(t *testing.T) {
		web := createSG(t, p, "web")
		_, err := groups.Update(ctx(t), p, web.ID, groups.UpdateOpts{Name: "DEFAULT"}).Extract()
		expectGCError(t, err, http.StatusConflict, "SecurityGroupDefaultAlreadyExists")
	})
	// The validator also refuses the default group's own name in a PUT.
	t.Run("default group keeps its name", func(t *testing.T) {
		d := defaultSG(t, p)
		_, err := groups.Update(ctx(t), p, d.ID, groups.UpdateOpts{Name: "default"}).Extract()
		expectGCError(t, err, http.StatusConflict, "SecurityGroupDefaultAlreadyExists")
	})
}

// TestSecurityGroupDeleteDefaultInUse_Neutron: Neutron checks a group's
// ports before whether it is the default group, so a member deleting its
// default group while a port uses it gets 409 SecurityGroupInUse; spinel
// answers 409 SecurityGroupCannotRemoveDefault.
//
// Neutron: neutron/db/securitygroups_db.py:244-254 (delete_security_group:
// SecurityGroupInUse at :248-249 before SecurityGroupCannotRemoveDefault
// at :253-254).
func TestSecurityGroupDeleteDefaultInUse_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.project("projP")
	n, _ := netWithSubnet(t, p, "n", "10.53.0.0/24")
	pt := createPort(t, p, ports.CreateOpts{NetworkID: n.ID})
	e.do("DELETE", "/v2.0/security-groups/"+pt.SecurityGroups[0], nil, projectHeaders("projP")).
		expectError(t, http.StatusConflict, "SecurityGroupInUse")
}

// TestSecurityGroupListCreatesDefault_Neutron: Neutron also creates a
// project's default group when security group rules are listed (for the
// project of the project_id filter, else the caller's), and when groups
// are listed with a project_id filter (for that project, so also when an
// admin lists another project's groups). spinel creates it only when a
// project lists its own groups (or creates a group or port).
//
// Neutron: neutron/db/securitygroups_db.py:166-181 (get_security_groups:
// _ensure_default_security_group for the filter's or the caller's
// project) and :803-809 (get_security_group_rules: the same).
func TestSecurityGroupListCreatesDefault_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t.Run("member lists rules", func(t *testing.T) {
		got := listRules(t, e.project("projQ"), rules.ListOpts{})
		if len(got) != 4 {
			t.Errorf("a new project lists %d rules, want the default group's 4", len(got))
		}
	})
	t.Run("admin lists a project's groups", func(t *testing.T) {
		got := listSGs(t, e.admin, groups.ListOpts{ProjectID: "projR"})
		if len(got) != 1 || got[0].Name != "default" || got[0].ProjectID != "projR" {
			t.Errorf("admin lists %+v, want projR's new default group", got)
		}
	})
}
