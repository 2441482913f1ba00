package netsync

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/ovntest"
	"github.com/spinel-net/spinel/internal/ovsdb"
)

func sp(s string) *string { return &s }
func ip(i int) *int       { return &i }

// fixture is a small cloud: a geneve network with a DHCP subnet and a VM
// port, a vlan and a flat provider network, a routed network (not ours),
// a router interface port and a security group with rules.
func fixture() Input {
	geneve := &model.Network{Standard: model.Standard{ID: "n1", Name: "tenant", ProjectID: "p1", RevisionNumber: 3}, NetworkType: "geneve", MTU: 1442, SegmentationID: ip(101)}
	vlan := &model.Network{Standard: model.Standard{ID: "n2", Name: "prov"}, NetworkType: "vlan", MTU: 1500, PhysicalNetwork: sp("physnet1"), SegmentationID: ip(120)}
	flat := &model.Network{Standard: model.Standard{ID: "n3", Name: "ext"}, NetworkType: "flat", MTU: 1500, PhysicalNetwork: sp("physnet2")}
	routed := &model.Network{Standard: model.Standard{ID: "n4", Name: "routed"}, NetworkType: "routed", MTU: 1500}
	sub := &model.Subnet{Standard: model.Standard{ID: "s1", RevisionNumber: 2}, NetworkID: "n1", IPVersion: 4, CIDR: "10.0.0.0/24",
		GatewayIP: sp("10.0.0.1"), EnableDHCP: true, DNSNameservers: []string{"10.0.0.2", "10.0.0.3"},
		HostRoutes: []model.HostRoute{{Destination: "192.168.0.0/16", Nexthop: "10.0.0.254"}}}
	sub6 := &model.Subnet{Standard: model.Standard{ID: "s6"}, NetworkID: "n1", IPVersion: 6, CIDR: "fd00::/64", EnableDHCP: true, IPv6AddressMode: sp("dhcpv6-stateless")}
	slaac := &model.Subnet{Standard: model.Standard{ID: "s7"}, NetworkID: "n1", IPVersion: 6, CIDR: "fd01::/64", EnableDHCP: true, IPv6AddressMode: sp("slaac")}
	noDHCP := &model.Subnet{Standard: model.Standard{ID: "s2"}, NetworkID: "n2", IPVersion: 4, CIDR: "192.0.2.0/24", GatewayIP: sp("192.0.2.1")}
	vm := &model.Port{Standard: model.Standard{ID: "p-vm", Name: "vm1", ProjectID: "p1", RevisionNumber: 5}, NetworkID: "n1",
		MACAddress: "fa:16:3e:00:00:01", FixedIPs: []model.FixedIP{{SubnetID: "s1", IPAddress: "10.0.0.5"}, {SubnetID: "s6", IPAddress: "fd00::5"}},
		AdminStateUp: true, PortSecurityEnabled: true, SecurityGroups: []string{"sg-1"}, DeviceOwner: "compute:nova", DeviceID: "vm-1", HostID: "hv1",
		AllowedAddressPairs: []model.AddressPair{{IPAddress: "10.0.0.100"}, {IPAddress: "10.0.0.101", MACAddress: "fa:16:3e:00:00:99"}}}
	open := &model.Port{Standard: model.Standard{ID: "p-open"}, NetworkID: "n2", MACAddress: "fa:16:3e:00:00:02",
		FixedIPs: []model.FixedIP{{SubnetID: "s2", IPAddress: "192.0.2.10"}}, AdminStateUp: false}
	rif := &model.Port{Standard: model.Standard{ID: "p-rif"}, NetworkID: "n1", MACAddress: "fa:16:3e:00:00:03",
		FixedIPs: []model.FixedIP{{SubnetID: "s1", IPAddress: "10.0.0.1"}}, AdminStateUp: true, DeviceOwner: "network:router_interface", DeviceID: "r1", PortSecurityEnabled: true}
	gw := &model.Port{Standard: model.Standard{ID: "p-gw"}, NetworkID: "n3", MACAddress: "fa:16:3e:00:00:04", AdminStateUp: true, DeviceOwner: "network:router_gateway", DeviceID: "r1"}
	fip := &model.Port{Standard: model.Standard{ID: "p-fip"}, NetworkID: "n3", MACAddress: "fa:16:3e:00:00:05", DeviceOwner: "network:floatingip"}
	onRouted := &model.Port{Standard: model.Standard{ID: "p-routed"}, NetworkID: "n4", MACAddress: "fa:16:3e:00:00:06"}
	sg := &model.SecurityGroup{Standard: model.Standard{ID: "sg-1"}, Stateful: true}
	rules := []*model.SecurityGroupRule{
		{ID: "r-egress4", SecurityGroupID: "sg-1", Direction: "egress", Ethertype: "IPv4"},
		{ID: "r-ssh", SecurityGroupID: "sg-1", Direction: "ingress", Ethertype: "IPv4", Protocol: sp("tcp"), PortRangeMin: ip(22), PortRangeMax: ip(22), RemoteIPPrefix: sp("0.0.0.0/0"), Normalized: sp("0.0.0.0/0")},
		{ID: "r-icmp", SecurityGroupID: "sg-1", Direction: "ingress", Ethertype: "IPv4", Protocol: sp("icmp"), PortRangeMin: ip(8)},
		{ID: "r-self", SecurityGroupID: "sg-1", Direction: "ingress", Ethertype: "IPv6", RemoteGroupID: sp("sg-1")},
		{ID: "r-gre", SecurityGroupID: "sg-1", Direction: "ingress", Ethertype: "IPv4", Protocol: sp("gre")},
	}
	return Input{
		Networks: []*model.Network{geneve, vlan, flat, routed}, Subnets: []*model.Subnet{sub, sub6, slaac, noDHCP},
		Ports: []*model.Port{vm, open, rif, gw, fip, onRouted}, SecurityGroups: []*model.SecurityGroup{sg}, Rules: rules,
	}
}

func TestComputeFollowsNeutron(t *testing.T) {
	d := Compute(fixture(), Options{})
	if len(d.Switches) != 3 {
		t.Fatalf("%d switches, want 3 (routed networks are not ovn's)", len(d.Switches))
	}
	ports := map[string]*SwitchPort{}
	for _, sw := range d.Switches {
		for _, p := range sw.Ports {
			ports[p.Row.Name] = p
		}
	}
	if _, ok := ports["p-fip"]; ok {
		t.Error("floating IP port in OVN")
	}
	vm := ports["p-vm"]
	if got := strings.Join(vm.Row.Addresses, "|"); got != "fa:16:3e:00:00:01 10.0.0.5 fd00::5|fa:16:3e:00:00:99" {
		t.Errorf("vm addresses %q", got)
	}
	if got := strings.Join(vm.Row.PortSecurity, "|"); got != "fa:16:3e:00:00:01 10.0.0.5 fd00::5 10.0.0.100|fa:16:3e:00:00:99 10.0.0.101" {
		t.Errorf("vm port security %q", got)
	}
	if vm.DHCPv4 != "s1" || vm.DHCPv6 != "s6" || vm.Row.Options["requested-chassis"] != "hv1" {
		t.Errorf("vm dhcp %q %q options %v", vm.DHCPv4, vm.DHCPv6, vm.Row.Options)
	}
	if got := vm.Row.ExternalIDs[keyCIDRs]; got != "10.0.0.5/24 fd00::5/64" {
		t.Errorf("cidrs %q", got)
	}
	open := ports["p-open"]
	if strings.Join(open.Row.Addresses, "|") != "unknown" || len(open.Row.PortSecurity) != 0 || *open.Row.Enabled {
		t.Errorf("port without security: %+v", open.Row)
	}
	rif := ports["p-rif"]
	if rif.Row.Type != "router" || rif.Row.Options["router-port"] != "lrp-p-rif" || strings.Join(rif.Row.Addresses, "") != "router" || len(rif.Row.PortSecurity) != 0 || rif.DHCPv4 != "" {
		t.Errorf("router interface: %+v", rif.Row)
	}
	if ports["p-gw"].Row.Options["nat-addresses"] != "router" {
		t.Errorf("gateway: %+v", ports["p-gw"].Row)
	}
	ln := ports["provnet-n2"]
	if ln == nil || ln.Row.Type != "localnet" || ln.Row.Options["network_name"] != "physnet1" || ln.Row.Tag == nil || *ln.Row.Tag != 120 {
		t.Errorf("vlan localnet: %+v", ln)
	}
	if ln := ports["provnet-n3"]; ln == nil || ln.Row.Tag != nil || ln.Row.Options["network_name"] != "physnet2" {
		t.Errorf("flat localnet: %+v", ln)
	}
	if _, ok := ports["provnet-n1"]; ok {
		t.Error("geneve network with a localnet port")
	}
	var dhcp []*DHCP
	for _, sw := range d.Switches {
		dhcp = append(dhcp, sw.DHCP...)
	}
	if len(dhcp) != 2 {
		t.Fatalf("%d DHCP options, want 2 (v4 and stateless v6; not SLAAC or DHCP-less)", len(dhcp))
	}
	o := dhcp[0].Row.Options
	if o["router"] != "10.0.0.1" || o["server_id"] != "10.0.0.1" || o["lease_time"] != "43200" || o["mtu"] != "1442" ||
		o["dns_server"] != "{10.0.0.2, 10.0.0.3}" || o["classless_static_route"] != "{192.168.0.0/16,10.0.0.254, 0.0.0.0/0,10.0.0.1}" ||
		!strings.HasPrefix(o["server_mac"], "fa:16:3e:") {
		t.Errorf("dhcpv4 options %v", o)
	}
	if o6 := dhcp[1].Row.Options; o6["dhcpv6_stateless"] != "true" || !strings.HasPrefix(o6["server_id"], "fa:16:3e:") {
		t.Errorf("dhcpv6 options %v", o6)
	}
	if again := Compute(fixture(), Options{}); again.Switches[0].DHCP[0].Row.Options["server_mac"] != o["server_mac"] {
		t.Error("server MAC not stable")
	}

	if len(d.PortGroups) != 2 || d.PortGroups[0].Row.Name != DropPortGroup || d.PortGroups[1].Row.Name != "pg_sg_1" {
		t.Fatalf("port groups %+v", d.PortGroups)
	}
	if got := d.PortGroups[0].Ports; len(got) != 1 || got[0] != "p-vm" {
		t.Errorf("drop group members %v (router and unsecured ports must not be in it)", got)
	}
	matches := map[string]string{}
	for _, a := range d.PortGroups[1].ACLs {
		matches[a.Key] = a.Row.Direction + " " + a.Row.Action + " " + a.Row.Match
	}
	for key, want := range map[string]string{
		"r-egress4": "from-lport allow-related inport == @pg_sg_1 && ip4",
		"r-ssh":     "to-lport allow-related outport == @pg_sg_1 && ip4 && ip4.src == 0.0.0.0/0 && tcp && tcp.dst == 22",
		"r-icmp":    "to-lport allow-related outport == @pg_sg_1 && ip4 && icmp4 && icmp4.type == 8",
		"r-self":    "to-lport allow-related outport == @pg_sg_1 && ip6 && ip6.src == $pg_sg_1_ip6",
		"r-gre":     "to-lport allow-related outport == @pg_sg_1 && ip4 && ip.proto == 47",
	} {
		if matches[key] != want {
			t.Errorf("ACL %s: %q, want %q", key, matches[key], want)
		}
	}
}

// start runs a real OVN and a connected client.
func start(t testing.TB) (*ovntest.OVN, *ovsdb.Client) {
	t.Helper()
	o := ovntest.Start(t)
	c, err := ovsdb.Dial(o.NB.Endpoint(), ovsdb.Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return o, c
}

func syncOnce(t *testing.T, s *Syncer) Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := s.SyncOnce(ctx)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return st
}

func TestSyncAgainstNB(t *testing.T) {
	o, c := start(t)
	src := &StaticSource{}
	src.Set(fixture())
	s := New(c, src, Config{Log: slog.New(slog.DiscardHandler)})

	// Rows of others must survive every pass.
	o.NBCtl(t, "ls-add", "foreign", "--", "lsp-add", "foreign", "fp")
	o.NBCtl(t, "pg-add", "pg_foreign")

	if st := syncOnce(t, s); st.Ops == 0 {
		t.Fatal("first pass wrote nothing")
	}
	if st := syncOnce(t, s); st.Ops != 0 {
		t.Fatalf("second pass wrote %d operations: not idempotent", st.Ops)
	}
	lsList := o.NBCtl(t, "--bare", "--columns=name", "find", "Logical_Switch", "external_ids:spinel\\:owner=netsync")
	for _, want := range []string{"neutron-n1", "neutron-n2", "neutron-n3"} {
		if !strings.Contains(lsList, want) {
			t.Errorf("switch %s missing: %q", want, lsList)
		}
	}
	if strings.Contains(lsList, "neutron-n4") {
		t.Error("routed network got a switch")
	}
	if got := o.NBCtl(t, "lsp-get-addresses", "p-vm"); strings.TrimSpace(got) != "fa:16:3e:00:00:01 10.0.0.5 fd00::5\nfa:16:3e:00:00:99" {
		t.Errorf("addresses %q", got)
	}
	if got := o.NBCtl(t, "lsp-get-type", "provnet-n2"); strings.TrimSpace(got) != "localnet" {
		t.Errorf("localnet type %q", got)
	}
	if got := o.NBCtl(t, "get", "Logical_Switch_Port", "provnet-n2", "tag"); strings.TrimSpace(got) != "120" {
		t.Errorf("localnet tag %q", got)
	}
	if got := o.NBCtl(t, "lsp-get-dhcpv4-options", "p-vm"); !strings.Contains(got, "10.0.0.0/24") {
		t.Errorf("dhcpv4 options of the vm: %q", got)
	}
	if got := o.NBCtl(t, "acl-list", "pg_sg_1"); !strings.Contains(got, `to-lport  1002 (outport == @pg_sg_1 && ip4 && ip4.src == 0.0.0.0/0 && tcp && tcp.dst == 22) allow-related`) {
		t.Errorf("acls:\n%s", got)
	}
	if got := o.NBCtl(t, "--bare", "--columns=ports", "list", "Port_Group", DropPortGroup); strings.TrimSpace(got) == "" {
		t.Error("drop group empty")
	}
	o.Sync(t) // northd accepts all of it

	// A change: the VM leaves the security group and its network is renamed.
	in := fixture()
	vm := *in.Ports[0]
	vm.SecurityGroups = nil
	in.Ports[0] = &vm
	n1 := *in.Networks[0]
	n1.Name = "renamed"
	in.Networks[0] = &n1
	src.Set(in)
	if st := syncOnce(t, s); st.Ops == 0 || st.Ops > 6 {
		t.Fatalf("change written with %d operations", st.Ops)
	}
	if got := o.NBCtl(t, "get", "Logical_Switch", "neutron-n1", "external_ids:neutron\\:network_name"); strings.TrimSpace(got) != "renamed" {
		t.Errorf("rename: %q", got)
	}
	if got := o.NBCtl(t, "--bare", "--columns=ports", "list", "Port_Group", "pg_sg_1"); strings.TrimSpace(got) != "" {
		t.Errorf("vm still in its old group: %q", got)
	}

	// Deletion: everything netsync owns goes, nothing else does.
	src.Set(Input{})
	syncOnce(t, s)
	if got := o.NBCtl(t, "--bare", "--columns=name", "list", "Logical_Switch"); strings.TrimSpace(got) != "foreign" {
		t.Errorf("switches left: %q", got)
	}
	if got := o.NBCtl(t, "--bare", "--columns=name", "list", "Port_Group"); !strings.Contains(got, "pg_foreign") || strings.Contains(got, "pg_sg_1") {
		t.Errorf("port groups left: %q", got)
	}
	if got := o.NBCtl(t, "--bare", "--columns=_uuid", "list", "DHCP_Options"); strings.TrimSpace(got) != "" {
		t.Errorf("DHCP options left: %q", got)
	}
}

func TestRunRestoresDriftAndWipedDatabase(t *testing.T) {
	o, c := start(t)
	src := &StaticSource{}
	src.Set(fixture())
	s := New(c, src, Config{Log: slog.New(slog.DiscardHandler), Debounce: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	waitNB := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (last error %v)", what, s.Status().LastErr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	has := func(args ...string) func() bool {
		return func() bool {
			out, err := o.NBCtlErr(args...)
			return err == nil && strings.TrimSpace(out) != ""
		}
	}
	waitNB("the first sync", has("--bare", "--columns=name", "find", "Logical_Switch", "name=neutron-n1"))

	// Someone deletes a switch and an ACL behind netsync's back.
	o.NBCtl(t, "ls-del", "neutron-n1")
	waitNB("the switch to come back", has("--bare", "--columns=name", "find", "Logical_Switch", "name=neutron-n1"))
	waitNB("its port to come back", has("--bare", "--columns=name", "find", "Logical_Switch_Port", "name=p-vm"))

	// The database is wiped.
	o.NB.Wipe(t)
	start := time.Now()
	waitNB("the wiped database to be restored", func() bool {
		out, err := o.NBCtlErr("--bare", "--columns=name", "list", "Logical_Switch_Port")
		return err == nil && strings.Count(out, "\n") >= 6 && strings.Contains(o.NBCtl(t, "acl-list", "pg_sg_1"), "tcp.dst == 22")
	})
	t.Logf("wiped database restored %v after the restart", time.Since(start).Round(time.Millisecond))

	// NB stops: passes fail or wait; once back, changes made meanwhile land.
	o.NB.Stop()
	in := fixture()
	in.Networks = append(in.Networks, &model.Network{Standard: model.Standard{ID: "n9", Name: "late"}, NetworkType: "geneve", MTU: 1442})
	src.Set(in)
	s.Trigger()
	time.Sleep(200 * time.Millisecond)
	o.NB.Start(t)
	waitNB("the change made while NB was down", has("--bare", "--columns=name", "find", "Logical_Switch", "name=neutron-n9"))
}

type statusRecorder struct {
	mu   sync.Mutex
	last map[string]string
}

func (r *statusRecorder) SetPortStatuses(_ context.Context, st map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = st
	return nil
}

func TestPortStatusFollowsUp(t *testing.T) {
	o, c := start(t)
	src := &StaticSource{}
	in := fixture()
	for i, p := range in.Ports {
		cp := *p
		cp.Status = "DOWN" // as created
		in.Ports[i] = &cp
	}
	src.Set(in)
	rec := &statusRecorder{}
	s := New(c, src, Config{Log: slog.New(slog.DiscardHandler), Status: rec})
	syncOnce(t, s)
	// The VM port (DOWN already) and network devices need nothing; the
	// port without security is a VM port too: DOWN as well.
	if len(rec.last) != 0 {
		t.Fatalf("statuses before anything is up: %v", rec.last)
	}
	// ovn-controller plugged the VM: northd sets up=true. The test plays
	// northd here; the real one, with no chassis bound, would set it back.
	o.StopNorthd()
	o.NBCtl(t, "set", "Logical_Switch_Port", "p-vm", "up=true")
	c.Echo(context.Background())
	syncOnce(t, s)
	if len(rec.last) != 1 || rec.last["p-vm"] != "ACTIVE" {
		t.Fatalf("statuses after up: %v", rec.last)
	}
	vm := *in.Ports[0]
	vm.Status = "ACTIVE"
	in.Ports[0] = &vm
	src.Set(in)
	rec.last = nil
	syncOnce(t, s)
	if len(rec.last) != 0 {
		t.Fatalf("statuses when already ACTIVE: %v", rec.last)
	}
	o.NBCtl(t, "set", "Logical_Switch_Port", "p-vm", "up=false")
	c.Echo(context.Background())
	syncOnce(t, s)
	if rec.last["p-vm"] != "DOWN" {
		t.Fatalf("statuses after down: %v", rec.last)
	}
}

// staleNB sends every update to a row that does not exist, as a replica
// that is behind the database would.
type staleNB struct{ NB }

func (s staleNB) Transact(ctx context.Context, db string, ops ...ovsdb.Operation) ([]ovsdb.OpResult, error) {
	for i, op := range ops {
		if op.Op == "update" {
			ops[i].Where = []ovsdb.Condition{ovsdb.ByUUID("00000000-0000-0000-0000-000000000000")}
		}
	}
	return s.NB.Transact(ctx, db, ops...)
}

func TestStaleReplicaIsAnError(t *testing.T) {
	_, c := start(t)
	src := &StaticSource{}
	src.Set(fixture())
	syncOnce(t, New(c, src, Config{Log: slog.New(slog.DiscardHandler)}))
	in := fixture()
	n := *in.Networks[0]
	n.Name = "changed"
	in.Networks[0] = &n
	src.Set(in)
	s := New(staleNB{c}, src, Config{Log: slog.New(slog.DiscardHandler)})
	if _, err := s.SyncOnce(context.Background()); !errors.Is(err, errStale) {
		t.Fatalf("an update matching no row: %v", err)
	}
}
