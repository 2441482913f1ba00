package integration

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/attributestags"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/routers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/rbacpolicies"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"

	"github.com/spinel-net/spinel/internal/policy"
	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/service"
	"github.com/spinel-net/spinel/internal/store"
	"github.com/spinel-net/spinel/internal/testserver"
)

// Tests of the policy engine's integration: Neutron's default roles
// (admin, member, reader), admin-only attributes, 404 for what a caller
// may not get and 403 for refused writes on what it may, and operator
// policy files. Neutron: neutron/conf/policies/*.py (secure-RBAC
// defaults), neutron/pecan_wsgi/hooks/policy_enforcement.py (404 vs 403).

// world is one project's complete set of resources, created by the admin
// on its behalf, behind an external network of the admin's.
type world struct {
	project                      string
	ext, net                     netView
	extSubnet, subnet            subnetView
	port                         portView
	router                       *routers.Router
	fip                          *floatingips.FloatingIP
	sg                           sgView
	rule                         ruleView
	rbac                         *rbacpolicies.RBACPolicy
	rbacTarget, extCIDR, netCIDR string
}

// newWorld builds project's resources (CIDRs must not overlap between
// worlds of one server: routed subnets share one address space).
func newWorld(t *testing.T, e *env, project, extCIDR, netCIDR string) *world {
	t.Helper()
	w := &world{project: project, extCIDR: extCIDR, netCIDR: netCIDR}
	w.ext = createNet(t, e.admin, bodyOpts{"name": project + "-ext", "router:external": true})
	w.extSubnet = v4Subnet(t, e.admin, w.ext.ID, extCIDR)
	w.net = createNet(t, e.admin, networks.CreateOpts{Name: project + "-net", ProjectID: project})
	w.subnet = createSubnet(t, e.admin, subnets.CreateOpts{NetworkID: w.net.ID, CIDR: netCIDR, IPVersion: gophercloud.IPv4, ProjectID: project})
	w.port = createPort(t, e.admin, ports.CreateOpts{NetworkID: w.net.ID, ProjectID: project})
	r, err := routers.Create(ctx(t), e.admin, routers.CreateOpts{Name: project + "-r", ProjectID: project,
		GatewayInfo: &routers.GatewayInfo{NetworkID: w.ext.ID}}).Extract()
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	w.router = r
	if _, err := routers.AddInterface(ctx(t), e.admin, r.ID, routers.AddInterfaceOpts{SubnetID: w.subnet.ID}).Extract(); err != nil {
		t.Fatalf("interface: %v", err)
	}
	if w.fip, err = floatingips.Create(ctx(t), e.admin, floatingips.CreateOpts{FloatingNetworkID: w.ext.ID, PortID: w.port.ID, ProjectID: project}).Extract(); err != nil {
		t.Fatalf("floating ip: %v", err)
	}
	g, err := groups.Create(ctx(t), e.admin, groups.CreateOpts{Name: project + "-sg", ProjectID: project}).Extract()
	if err != nil {
		t.Fatalf("group: %v", err)
	}
	w.sg = getSG(t, e.admin, g.ID)
	w.rule = createRule(t, e.admin, rules.CreateOpts{SecGroupID: g.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4, Protocol: rules.ProtocolTCP, PortRangeMin: 22, PortRangeMax: 22, ProjectID: project})
	w.rbacTarget = project + "-friend"
	if w.rbac, err = rbacpolicies.Create(ctx(t), e.project(project), rbacpolicies.CreateOpts{
		Action: rbacpolicies.ActionAccessShared, ObjectType: "network", ObjectID: w.net.ID, TargetTenant: w.rbacTarget}).Extract(); err != nil {
		t.Fatalf("rbac policy: %v", err)
	}
	return w
}

// item is one resource of a world as a URL and its 404 type.
type item struct {
	path, key, notFound string
	update              map[string]any
}

func (w *world) items() []item {
	return []item{
		{"/v2.0/networks/" + w.net.ID, "network", "NetworkNotFound", map[string]any{"name": "x"}},
		{"/v2.0/subnets/" + w.subnet.ID, "subnet", "SubnetNotFound", map[string]any{"name": "x"}},
		{"/v2.0/ports/" + w.port.ID, "port", "PortNotFound", map[string]any{"name": "x"}},
		{"/v2.0/routers/" + w.router.ID, "router", "RouterNotFound", map[string]any{"name": "x"}},
		{"/v2.0/floatingips/" + w.fip.ID, "floatingip", "FloatingIPNotFound", map[string]any{"description": "x"}},
		{"/v2.0/security-groups/" + w.sg.ID, "security_group", "SecurityGroupNotFound", map[string]any{"description": "x"}},
		{"/v2.0/security-group-rules/" + w.rule.ID, "security_group_rule", "SecurityGroupRuleNotFound", nil},
		{"/v2.0/rbac-policies/" + w.rbac.ID, "rbac_policy", "RbacPolicyNotFound", map[string]any{"target_tenant": "someone"}},
	}
}

// TestReaderCannotWrite: a reader of a project lists and shows all of its
// resources but every write, on any of them, is 403 PolicyNotAuthorized
// and changes nothing (create/update/delete_* are ADMIN or PROJECT_MEMBER;
// get_* admit PROJECT_READER).
func TestReaderCannotWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := newWorld(t, e, "projR", "198.51.100.0/24", "10.60.0.0/24")
	h := projectHeaders("projR", "reader")
	rd := e.project("projR", "reader")

	for _, it := range w.items() {
		got := e.do("GET", it.path, nil, h).expect(t, http.StatusOK).object(t)
		if _, ok := got[it.key]; !ok {
			t.Errorf("reader GET %s: %v", it.path, got)
		}
		if it.update != nil {
			e.do("PUT", it.path, map[string]any{it.key: it.update}, h).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
		}
		e.do("DELETE", it.path, nil, h).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
	}
	for _, coll := range []string{"networks", "subnets", "ports", "routers", "floatingips", "security-groups", "security-group-rules", "rbac-policies"} {
		e.do("GET", "/v2.0/"+coll, nil, h).expect(t, http.StatusOK)
	}

	forbidden := func(what string, err error) {
		t.Helper()
		ne := expectGCError(t, err, http.StatusForbidden, "PolicyNotAuthorized")
		if !strings.Contains(ne.Message, "is disallowed by policy") {
			t.Errorf("%s: message %q", what, ne.Message)
		}
	}
	_, err := networks.Create(ctx(t), rd, networks.CreateOpts{Name: "r"}).Extract()
	forbidden("create network", err)
	_, err = subnets.Create(ctx(t), rd, subnets.CreateOpts{NetworkID: w.net.ID, CIDR: "10.60.1.0/24", IPVersion: gophercloud.IPv4}).Extract()
	forbidden("create subnet", err)
	_, err = ports.Create(ctx(t), rd, ports.CreateOpts{NetworkID: w.net.ID}).Extract()
	forbidden("create port", err)
	_, err = routers.Create(ctx(t), rd, routers.CreateOpts{Name: "r"}).Extract()
	forbidden("create router", err)
	_, err = floatingips.Create(ctx(t), rd, floatingips.CreateOpts{FloatingNetworkID: w.ext.ID}).Extract()
	forbidden("create floating ip", err)
	_, err = groups.Create(ctx(t), rd, groups.CreateOpts{Name: "r"}).Extract()
	forbidden("create group", err)
	_, err = rules.Create(ctx(t), rd, rules.CreateOpts{SecGroupID: w.sg.ID, Direction: rules.DirEgress, EtherType: rules.EtherType6}).Extract()
	forbidden("create rule", err)
	_, err = rbacpolicies.Create(ctx(t), rd, rbacpolicies.CreateOpts{Action: rbacpolicies.ActionAccessShared, ObjectType: "network", ObjectID: w.net.ID, TargetTenant: "x"}).Extract()
	forbidden("create rbac policy", err)
	_, err = routers.AddInterface(ctx(t), rd, w.router.ID, routers.AddInterfaceOpts{SubnetID: w.subnet.ID}).Extract()
	forbidden("add interface", err)
	_, err = routers.RemoveInterface(ctx(t), rd, w.router.ID, routers.RemoveInterfaceOpts{SubnetID: w.subnet.ID}).Extract()
	forbidden("remove interface", err)
	forbidden("add tag", attributestags.Add(ctx(t), rd, "networks", w.net.ID, "t").ExtractErr())
	_, err = attributestags.ReplaceAll(ctx(t), rd, "ports", w.port.ID, attributestags.ReplaceAllOpts{Tags: []string{"a"}}).Extract()
	forbidden("replace tags", err)
	forbidden("delete tags", attributestags.DeleteAll(ctx(t), rd, "routers", w.router.ID).ExtractErr())
	if tags, err := attributestags.List(ctx(t), rd, "networks", w.net.ID).Extract(); err != nil || len(tags) != 0 {
		t.Errorf("reader lists tags: %v %v", tags, err)
	}
	e.do("PUT", "/v2.0/routers/"+w.router.ID+"/add_extraroutes", map[string]any{"router": map[string]any{"routes": []any{}}}, h).
		expectError(t, http.StatusForbidden, "PolicyNotAuthorized")

	// Nothing changed.
	for _, it := range w.items() {
		got := e.do("GET", it.path, nil, nil).expect(t, http.StatusOK).object(t)[it.key].(map[string]any)
		if got["name"] == "x" || got["description"] == "x" || got["target_tenant"] == "someone" {
			t.Errorf("%s changed by the reader: %v", it.path, got)
		}
	}
	if got := listNets(t, e.admin, networks.ListOpts{ProjectID: "projR"}); len(got) != 1 {
		t.Errorf("projR has %d networks", len(got))
	}
}

// TestCrossProject404: a member of another project gets the kind's 404
// on every resource of the project, for show, update and delete alike
// (the resource is not in its scope), and sees none in lists.
func TestCrossProject404(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := newWorld(t, e, "projA", "198.51.101.0/24", "10.61.0.0/24")
	hB := projectHeaders("projB")
	for _, it := range w.items() {
		e.do("GET", it.path, nil, hB).expectError(t, http.StatusNotFound, it.notFound)
		if it.update != nil {
			e.do("PUT", it.path, map[string]any{it.key: it.update}, hB).expectError(t, http.StatusNotFound, it.notFound)
		}
		e.do("DELETE", it.path, nil, hB).expectError(t, http.StatusNotFound, it.notFound)
		e.do("GET", it.path, nil, projectHeaders("projA", "reader")).expect(t, http.StatusOK)
	}
	for _, coll := range []string{"networks", "subnets", "ports", "routers", "floatingips", "security-groups", "security-group-rules", "rbac-policies"} {
		var m map[string][]map[string]any
		e.do("GET", "/v2.0/"+coll, nil, hB).expect(t, http.StatusOK).into(t, &m)
		for _, l := range m {
			for _, it := range l {
				if it["project_id"] == "projA" {
					t.Errorf("B lists A's %s: %v", coll, it)
				}
			}
		}
	}
	e.do("PUT", "/v2.0/routers/"+w.router.ID+"/add_router_interface", map[string]any{"subnet_id": w.subnet.ID}, hB).
		expectError(t, http.StatusNotFound, "RouterNotFound")
	e.do("GET", "/v2.0/networks/"+w.net.ID+"/tags", nil, hB).expectError(t, http.StatusNotFound, "NetworkNotFound")
}

// TestMemberAdminOnlyAttributes: a member may not set the attributes
// Neutron reserves to admins, on create or update (403 naming the
// attribute's rule), and does not see the hidden ones.
func TestMemberAdminOnlyAttributes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ext := createNet(t, e.admin, bodyOpts{"name": "ext", "router:external": true})
	v4Subnet(t, e.admin, ext.ID, "198.51.102.0/24")
	m := e.project("projM")
	hM := projectHeaders("projM")
	n, s := netWithSubnet(t, m, "mine", "10.62.0.0/24")
	p := createPort(t, m, ports.CreateOpts{NetworkID: n.ID})

	for _, c := range []struct {
		method, path string
		body         map[string]any
		rule         string
	}{
		{"POST", "/v2.0/networks", map[string]any{"network": map[string]any{"provider:network_type": "geneve"}}, "create_network:provider:network_type"},
		{"POST", "/v2.0/networks", map[string]any{"network": map[string]any{"shared": true}}, "create_network:shared"},
		{"PUT", "/v2.0/networks/" + n.ID, map[string]any{"network": map[string]any{"router:external": true}}, "update_network:router:external"},
		{"POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": n.ID, "binding:host_id": "h1"}}, "create_port:binding:host_id"},
		{"POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": n.ID, "binding:profile": map[string]any{"a": 1}}}, "create_port:binding:profile"},
		{"PUT", "/v2.0/ports/" + p.ID, map[string]any{"port": map[string]any{"binding:host_id": "h1"}}, "update_port:binding:host_id"},
		{"PUT", "/v2.0/ports/" + p.ID, map[string]any{"port": map[string]any{"mac_address": "fa:16:3e:11:22:33"}}, "update_port:mac_address"},
		{"POST", "/v2.0/routers", map[string]any{"router": map[string]any{"ha": false}}, "create_router:ha"},
		{"POST", "/v2.0/routers", map[string]any{"router": map[string]any{"distributed": true}}, "create_router:distributed"},
		{"POST", "/v2.0/routers", map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{"network_id": ext.ID, "enable_snat": false}}}, "create_router:external_gateway_info:enable_snat"},
		{"POST", "/v2.0/routers", map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{"network_id": ext.ID, "external_fixed_ips": []any{map[string]any{"ip_address": "198.51.102.9"}}}}}, "create_router:external_gateway_info:external_fixed_ips"},
		{"POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": ext.ID, "floating_ip_address": "198.51.102.10"}}, "create_floatingip:floating_ip_address"},
		{"POST", "/v2.0/rbac-policies", map[string]any{"rbac_policy": map[string]any{"object_type": "network", "object_id": n.ID, "action": "access_as_shared", "target_tenant": "*"}}, "create_rbac_policy:target_tenant"},
	} {
		ne := e.do(c.method, c.path, c.body, hM).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
		if want := "(rule:" + c.rule + ") is disallowed by policy"; ne.Message != want {
			t.Errorf("%s %s: message %q, want %q", c.method, c.path, ne.Message, want)
		}
	}
	// Nothing was created or changed.
	if got := listNets(t, e.admin, networks.ListOpts{ProjectID: "projM"}); len(got) != 1 {
		t.Errorf("projM has %d networks", len(got))
	}
	if got := getPort(t, e.admin, p.ID); got.HostID != "" || got.MACAddress != p.MACAddress {
		t.Errorf("port changed: %+v", got)
	}
	var rl struct {
		Routers []any `json:"routers"`
	}
	e.do("GET", "/v2.0/routers", nil, nil).expect(t, http.StatusOK).into(t, &rl)
	if len(rl.Routers) != 0 {
		t.Errorf("%d routers created", len(rl.Routers))
	}

	// What members may do: a gateway without SNAT settings, a port with
	// its own MAC and addresses on its own network.
	r, err := routers.Create(ctx(t), m, routers.CreateOpts{Name: "r", GatewayInfo: &routers.GatewayInfo{NetworkID: ext.ID}}).Extract()
	if err != nil || r.GatewayInfo.NetworkID != ext.ID {
		t.Fatalf("member's router with a gateway: %+v %v", r, err)
	}
	createPort(t, m, ports.CreateOpts{NetworkID: n.ID, MACAddress: "fa:16:3e:44:55:66", FixedIPs: []map[string]string{fixed(s.ID, "10.62.0.50")}})

	// Hidden attributes: the member's view of its port and router lacks
	// binding:* and ha/distributed; the admin's has them.
	admPort := e.do("PUT", "/v2.0/ports/"+p.ID, map[string]any{"port": map[string]any{"binding:host_id": "h7"}}, nil).expect(t, http.StatusOK).object(t)["port"].(map[string]any)
	if admPort["binding:host_id"] != "h7" {
		t.Errorf("admin's view: %v", admPort)
	}
	for _, view := range []map[string]any{e.rawPort(t, p.ID, hM), e.do("GET", "/v2.0/routers/"+r.ID, nil, hM).expect(t, http.StatusOK).object(t)["router"].(map[string]any)} {
		for _, k := range []string{"binding:host_id", "binding:profile", "binding:vif_type", "binding:vif_details", "ha", "distributed"} {
			if _, ok := view[k]; ok {
				t.Errorf("member sees %s: %v", k, view)
			}
		}
	}
	if _, ok := e.rawPort(t, p.ID, hM)["binding:vnic_type"]; !ok {
		t.Error("member does not see binding:vnic_type")
	}
	adm := e.do("GET", "/v2.0/routers/"+r.ID, nil, nil).expect(t, http.StatusOK).object(t)["router"].(map[string]any)
	if _, ok := adm["ha"]; !ok {
		t.Errorf("admin does not see ha: %v", adm)
	}
}

// writePolicy writes a policy file for a test server.
func writePolicy(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func withPolicyFile(path string) testserver.Option {
	return func(c *server.Config) { c.PolicyFile = path }
}

// TestPolicyFileOverride: an operator's file changes outcomes rule by
// rule: members may create shared networks, routers are for admins only,
// readers see provider attributes; untouched rules keep their defaults.
func TestPolicyFileOverride(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withPolicyFile(writePolicy(t, `
# Members may share the networks of their own project.
"create_network:shared": "rule:admin_only or (role:member and project_id:%(project_id)s)"
# Only admins create routers.
create_router: rule:admin_only
"get_network:provider:network_type": "role:reader"
`)))
	m := e.project("projM")
	n := createNet(t, m, networks.CreateOpts{Name: "shared-by-member", Shared: ptr(true)})
	if !n.Shared || n.ProjectID != "projM" {
		t.Fatalf("member's shared network: %+v", n)
	}
	if n.NetworkType == nil || *n.NetworkType != "routed" {
		t.Errorf("reader does not see provider:network_type: %+v", n)
	}
	// Another project sees it through the wildcard entry.
	if got := getNet(t, e.project("projO"), n.ID); !got.Shared {
		t.Errorf("other project's view: %+v", got)
	}
	// update_network:shared is still admin-only.
	_, err := networks.Update(ctx(t), m, n.ID, networks.UpdateOpts{Shared: ptr(false)}).Extract()
	expectGCError(t, err, http.StatusForbidden, "PolicyNotAuthorized")

	_, err = routers.Create(ctx(t), m, routers.CreateOpts{Name: "r"}).Extract()
	ne := expectGCError(t, err, http.StatusForbidden, "PolicyNotAuthorized")
	if ne.Message != "(rule:create_router) is disallowed by policy" {
		t.Errorf("message %q", ne.Message)
	}
	if _, err := routers.Create(ctx(t), e.admin, routers.CreateOpts{Name: "r"}).Extract(); err != nil {
		t.Fatalf("admin's router: %v", err)
	}
	// Defaults elsewhere are untouched.
	_, err = networks.Create(ctx(t), e.project("projM", "reader"), networks.CreateOpts{Name: "r"}).Extract()
	expectGCError(t, err, http.StatusForbidden, "PolicyNotAuthorized")
}

// TestPolicyFileAdminRole: context_is_admin decides who is an admin:
// renamed, the admin role alone no longer sees other projects.
func TestPolicyFileAdminRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withPolicyFile(writePolicy(t, "context_is_admin: role:cloud_admin\n")))
	n := createNamed(t, e.project("projA"), "a")
	e.do("GET", "/v2.0/networks/"+n.ID, nil, projectHeaders("projX", "admin")).expectError(t, http.StatusNotFound, "NetworkNotFound")
	if got := getNet(t, e.project("projX", "cloud_admin"), n.ID); got.ID != n.ID {
		t.Errorf("cloud_admin's view %+v", got)
	}
}

// TestPolicyFileRefusesStart: a bad policy file stops the server before it
// serves, with every problem in the file named.
func TestPolicyFileRefusesStart(t *testing.T) {
	t.Parallel()
	bad := writePolicy(t, `
create_network: "role:member and"
create_router: rule:no_such_rule
get_port: 5
`)
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := server.Config{Listen: "127.0.0.1:0", Service: service.DefaultConfig(), NoAuthProject: "admin", PolicyFile: bad,
		Store: store.Config{DataDir: t.TempDir(), UnsafeNoFsync: true}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	err := server.Run(c, cfg, log)
	if err == nil {
		t.Fatal("server started with a bad policy file")
	}
	var pe *policy.Error
	if !errors.As(err, &pe) || len(pe.Problems) != 3 {
		t.Fatalf("want 3 problems in a *policy.Error, got %v", err)
	}
	for _, want := range []string{`rule "create_network": unexpected end of rule`, `rule "create_router": refers to undefined rule "no_such_rule"`, `rule "get_port": the rule must be a string`, bad + ":"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// A missing file is refused too.
	cfg.PolicyFile = filepath.Join(t.TempDir(), "missing.yaml")
	if err := server.Run(c, cfg, log); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// TestQuotaAndProviderPolicy: a project reads its own quota and defaults
// without get_quota (admin-only), not another's; only admins change
// quotas. Service providers are listed to readers (get_service_provider:
// role:reader); a caller without the role lists none.
func TestQuotaAndProviderPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := projectHeaders("p1")
	for _, path := range []string{"/v2.0/quotas/p1", "/v2.0/quotas/p1/default", "/v2.0/quotas/p1/details"} {
		e.do("GET", path, nil, h).expect(t, http.StatusOK)
	}
	for _, path := range []string{"/v2.0/quotas/p2", "/v2.0/quotas/p2/default", "/v2.0/quotas/p2/details", "/v2.0/quotas"} {
		ne := e.do("GET", path, nil, h).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
		if ne.Message != "(rule:get_quota) is disallowed by policy" {
			t.Errorf("%s: %q", path, ne.Message)
		}
	}
	e.do("PUT", "/v2.0/quotas/p1", map[string]any{"quota": map[string]any{"network": 5}}, h).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
	e.do("DELETE", "/v2.0/quotas/p1", nil, h).expectError(t, http.StatusForbidden, "PolicyNotAuthorized")
	e.do("GET", "/v2.0/quotas/p2/default", nil, nil).expect(t, http.StatusOK)

	var sp struct {
		Providers []map[string]any `json:"service_providers"`
	}
	e.do("GET", "/v2.0/service-providers", nil, projectHeaders("p1", "reader")).expect(t, http.StatusOK).into(t, &sp)
	if len(sp.Providers) != 1 {
		t.Errorf("reader's providers %v", sp.Providers)
	}
	sp.Providers = nil
	e.do("GET", "/v2.0/service-providers", nil, projectHeaders("p1", "observer")).expect(t, http.StatusOK).into(t, &sp)
	if len(sp.Providers) != 0 {
		t.Errorf("a caller without reader lists providers %v", sp.Providers)
	}
}
