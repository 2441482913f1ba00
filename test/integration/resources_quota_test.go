package integration

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/quotas"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
)

// setQuota sets project's quota through the admin.
func (e *env) setQuota(t *testing.T, project string, opts quotas.UpdateOpts) {
	t.Helper()
	if _, err := quotas.Update(ctx(t), e.admin, project, opts).Extract(); err != nil {
		t.Fatalf("setting quota of %s: %v", project, err)
	}
}

// quotaDetails returns project's quota limits and usage.
func (e *env) quotaDetails(t *testing.T, project string) *quotas.QuotaDetailSet {
	t.Helper()
	d, err := quotas.GetDetail(ctx(t), e.admin, project).Extract()
	if err != nil {
		t.Fatalf("quota details of %s: %v", project, err)
	}
	return d
}

// expectOverQuota checks a 409 OverQuota naming resource
// (neutron_lib.exceptions.OverQuota: "Quota exceeded for resources: %(overs)s.").
func expectOverQuota(t *testing.T, err error, resource string) {
	t.Helper()
	ne := expectGCError(t, err, http.StatusConflict, "OverQuota")
	if want := "Quota exceeded for resources: ['" + resource + "']."; ne.Message != want {
		t.Errorf("message %q, want %q", ne.Message, want)
	}
}

// TestQuotaSubnets: subnets up to the quota, then 409 OverQuota; deleting
// one frees its slot.
func TestQuotaSubnets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := e.project("projQ")
	n := createNamed(t, q, "n")
	e.setQuota(t, "projQ", quotas.UpdateOpts{Subnet: ptr(2)})

	s0 := v4Subnet(t, q, n.ID, "10.60.0.0/24")
	v4Subnet(t, q, n.ID, "10.60.1.0/24")
	expectOverQuota(t, createSubnetErr(t, q, subnets.CreateOpts{NetworkID: n.ID, CIDR: "10.60.2.0/24", IPVersion: gophercloud.IPv4}), "subnet")
	if d := e.quotaDetails(t, "projQ"); d.Subnet.Used != 2 || d.Subnet.Limit != 2 {
		t.Errorf("subnet usage %+v", d.Subnet)
	}
	// Another project is not affected; an admin creating in projQ's name is.
	createSubnet(t, e.project("projR"), subnets.CreateOpts{NetworkID: createNamed(t, e.project("projR"), "r").ID, CIDR: "10.60.9.0/24", IPVersion: gophercloud.IPv4})
	expectOverQuota(t, createSubnetErr(t, e.admin, subnets.CreateOpts{NetworkID: n.ID, CIDR: "10.60.2.0/24", IPVersion: gophercloud.IPv4, ProjectID: "projQ"}), "subnet")

	if err := subnets.Delete(ctx(t), q, s0.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	v4Subnet(t, q, n.ID, "10.60.2.0/24")
	expectOverQuota(t, createSubnetErr(t, q, subnets.CreateOpts{NetworkID: n.ID, CIDR: "10.60.3.0/24", IPVersion: gophercloud.IPv4}), "subnet")
}

// TestQuotaPorts: ports up to the quota, then 409 OverQuota; deleting one
// frees its slot; a bulk create over the quota creates nothing.
func TestQuotaPorts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := e.project("projQ")
	n, _ := netWithSubnet(t, q, "n", "10.61.0.0/24")
	e.setQuota(t, "projQ", quotas.UpdateOpts{Port: ptr(3)})

	var made []portView
	for range 3 {
		made = append(made, createPort(t, q, ports.CreateOpts{NetworkID: n.ID}))
	}
	expectOverQuota(t, createPortErr(t, q, ports.CreateOpts{NetworkID: n.ID}), "port")
	if d := e.quotaDetails(t, "projQ"); d.Port.Used != 3 || d.Port.Limit != 3 {
		t.Errorf("port usage %+v", d.Port)
	}
	if err := ports.Delete(ctx(t), q, made[0].ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	// Two in one bulk request: over quota, and neither is created.
	r := e.do("POST", "/v2.0/ports", map[string]any{"ports": []any{
		map[string]any{"network_id": n.ID}, map[string]any{"network_id": n.ID},
	}}, projectHeaders("projQ"))
	r.expectError(t, http.StatusConflict, "OverQuota")
	if got := listPorts(t, q, nil); len(got) != 2 {
		t.Errorf("%d ports after refused bulk create, want 2", len(got))
	}
	createPort(t, q, ports.CreateOpts{NetworkID: n.ID})
	expectOverQuota(t, createPortErr(t, q, ports.CreateOpts{NetworkID: n.ID}), "port")
}

// TestQuotaPortsParallel: 30 concurrent creates against a port quota of 10
// create exactly 10 ports; the others fail with 409 OverQuota.
func TestQuotaPortsParallel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := e.project("projQ")
	n, _ := netWithSubnet(t, q, "n", "10.62.0.0/24")
	// Create the default group first so that all requests race only for ports.
	defaultSG(t, q)
	e.setQuota(t, "projQ", quotas.UpdateOpts{Port: ptr(10)})

	const workers = 30
	errs := make([]error, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := e.project("projQ")
			<-start
			_, errs[i] = ports.Create(ctx(t), c, ports.CreateOpts{NetworkID: n.ID, Name: fmt.Sprintf("p%d", i)}).Extract()
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
			continue
		}
		var ue gophercloud.ErrUnexpectedResponseCode
		if !errors.As(err, &ue) || ue.Actual != http.StatusConflict {
			t.Errorf("request %d: %v", i, err)
			continue
		}
		if ne := parseNeutronError(t, ue.Body); ne.Type != "OverQuota" {
			t.Errorf("request %d: %s", i, ue.Body)
		}
	}
	if ok != 10 {
		t.Errorf("%d creates succeeded, want 10", ok)
	}
	got := listPorts(t, q, nil)
	if len(got) != 10 {
		t.Errorf("%d ports exist, want 10", len(got))
	}
	seen := map[string]bool{}
	for _, p := range got {
		if len(p.FixedIPs) != 1 || seen[p.FixedIPs[0].IPAddress] || seen[p.MACAddress] {
			t.Errorf("port %s: fixed_ips %v mac %s (duplicate address?)", p.ID, p.FixedIPs, p.MACAddress)
			continue
		}
		seen[p.FixedIPs[0].IPAddress], seen[p.MACAddress] = true, true
	}
	if d := e.quotaDetails(t, "projQ"); d.Port.Used != 10 {
		t.Errorf("port usage %+v", d.Port)
	}
	expectOverQuota(t, createPortErr(t, q, ports.CreateOpts{NetworkID: n.ID}), "port")
}

// TestQuotaSecurityGroups: the default group counts towards the
// security_group quota (it is an ordinary row of the project); groups up
// to the quota, then 409 OverQuota; deleting one frees its slot.
func TestQuotaSecurityGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := e.project("projQ")
	defaultSG(t, q)
	if d := e.quotaDetails(t, "projQ"); d.SecurityGroup.Used != 1 {
		t.Fatalf("security_group usage with only the default group: %+v", d.SecurityGroup)
	}
	e.setQuota(t, "projQ", quotas.UpdateOpts{SecurityGroup: ptr(3)})
	a := createSG(t, q, "a")
	createSG(t, q, "b")
	_, err := groups.Create(ctx(t), q, groups.CreateOpts{Name: "c"}).Extract()
	expectOverQuota(t, err, "security_group")
	if err := groups.Delete(ctx(t), q, a.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	createSG(t, q, "c")
	_, err = groups.Create(ctx(t), q, groups.CreateOpts{Name: "d"}).Extract()
	expectOverQuota(t, err, "security_group")
	if d := e.quotaDetails(t, "projQ"); d.SecurityGroup.Used != 3 {
		t.Errorf("security_group usage %+v", d.SecurityGroup)
	}
}

// TestQuotaSecurityGroupRules: rules (the groups' own included) count
// towards security_group_rule; rules up to the quota, then 409 OverQuota;
// deleting one frees its slot.
func TestQuotaSecurityGroupRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := e.project("projQ")
	sg := createSG(t, q, "web") // and the default group: 2 + 4 rules
	used := e.quotaDetails(t, "projQ").SecurityGroupRule.Used
	if used != 6 {
		t.Errorf("security_group_rule usage %d, want 6 (default group 4, web 2)", used)
	}
	e.setQuota(t, "projQ", quotas.UpdateOpts{SecurityGroupRule: ptr(used + 2)})
	rule := func(port int) rules.CreateOpts {
		return rules.CreateOpts{SecGroupID: sg.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4,
			Protocol: rules.ProtocolTCP, PortRangeMin: port, PortRangeMax: port}
	}
	r1 := createRule(t, q, rule(1))
	createRule(t, q, rule(2))
	expectOverQuota(t, createRuleErr(t, q, rule(3)), "security_group_rule")
	if err := rules.Delete(ctx(t), q, r1.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	createRule(t, q, rule(3))
	expectOverQuota(t, createRuleErr(t, q, rule(4)), "security_group_rule")
	if d := e.quotaDetails(t, "projQ"); d.SecurityGroupRule.Used != used+2 {
		t.Errorf("security_group_rule usage %+v", d.SecurityGroupRule)
	}
}

// TestQuotaSecurityGroupRulesOnGroupCreate_Neutron: creating a group adds
// two rules, and Neutron checks them against the security_group_rule
// quota first: with no room for two more rules the group create is 409
// OverQuota for security_group_rule. spinel creates the group (and its
// rules, over the quota).
//
// Neutron: neutron/db/securitygroups_db.py:106-110 (create_security_group:
// quota.QUOTAS.quota_limit_check(context, tenant_id,
// security_group_rule=delta), delta 2, or 4 for the default group);
// neutron/db/quota/driver.py:325-348 (usage + delta > limit -> OverQuota).
func TestQuotaSecurityGroupRulesOnGroupCreate_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := e.project("projQ")
	defaultSG(t, q)
	used := e.quotaDetails(t, "projQ").SecurityGroupRule.Used
	e.setQuota(t, "projQ", quotas.UpdateOpts{SecurityGroupRule: ptr(used + 1)})
	_, err := groups.Create(ctx(t), q, groups.CreateOpts{Name: "web"}).Extract()
	expectOverQuota(t, err, "security_group_rule")
	if got := listSGs(t, q, groups.ListOpts{}); len(got) != 1 {
		t.Errorf("%d groups, want only the default one", len(got))
	}
}
