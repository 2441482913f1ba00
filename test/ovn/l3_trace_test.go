package ovn

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestL3Trace proves with ovn-trace, on the logical flows ovn-northd made
// from what spinel wrote (the network backend's switches and ports, the
// driver's router), that a VM without a floating IP reaches an external
// address through SNAT to the gateway's address, that a VM with a
// floating IP leaves with it, and that inbound traffic to the floating IP
// is translated to the VM and delivered to its port (and, for a port its
// security group does not open, dropped).
func TestL3Trace(t *testing.T) {
	e := l3start(t)
	defer l3logs(t, e.o)
	a := e.a
	ext, _ := e.network("ext", "flat", "203.0.113.0/24", true)
	vms, sub := e.network("vms", "geneve", "10.0.0.0/24", false)
	r := l3id(e.router("r", e.ovnFlavor, l3id(ext)))
	e.addInterface(r, l3id(sub))

	// The default group lets VMs out; open ssh in.
	sgs := a.must(200, "GET", "/v2.0/security-groups?name=default", nil, "")["security_groups"].([]any)
	a.must(201, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{"security_group_id": l3id(sgs[0].(map[string]any)), "direction": "ingress",
		"ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}}, "")
	withFIP := a.create("port", map[string]any{"network_id": l3id(vms), "name": "vm-fip"})
	noFIP := a.create("port", map[string]any{"network_id": l3id(vms), "name": "vm-snat"})
	fip := a.create("floatingip", map[string]any{"floating_network_id": l3id(ext), "port_id": l3id(withFIP)})
	fipAddr := fip["floating_ip_address"].(string)
	l3eventually(t, 10*time.Second, "router and floating IP ACTIVE", func() bool {
		return a.status("router", r) == "ACTIVE" && a.status("floatingip", l3id(fip)) == "ACTIVE"
	})

	gw, iface := e.gatewayPort(r), e.interfacePort(r, l3id(vms))
	gwIP, gwMAC, ifMAC := fixedIP(gw), gw["mac_address"].(string), iface["mac_address"].(string)
	localnet := "provnet-" + l3id(ext)
	// Both sides of both router ports, and the VM ports, are in NB.
	l3eventually(t, 10*time.Second, "the network backend's ports", func() bool {
		for _, p := range []string{l3id(gw), l3id(iface), l3id(withFIP), l3id(noFIP), localnet} {
			if _, err := e.o.NBCtlErr("lsp-get-type", p); err != nil {
				return false
			}
		}
		return true
	})
	if got := e.nbctl("lsp-get-options", l3id(iface)); got != "router-port=lrp-"+l3id(iface) {
		t.Errorf("interface switch port options %q", got)
	}
	// The upstream router's MAC, as a chassis would have learnt it by ARP
	// (ovn-controller writes such rows to SB; ovn-trace reads them).
	e.o.Sync(t)
	dp := strings.TrimSpace(e.o.SBCtl(t, "--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=neutron-"+r))
	e.o.SBCtl(t, "create", "MAC_Binding", "logical_port=lrp-"+l3id(gw), "ip=203.0.113.1", `mac="00:00:5e:00:01:01"`, "datapath="+dp)

	trace := func(datapath, flow string) string {
		t.Helper()
		out, err := e.o.TraceErr("--minimal", "--no-friendly-names", datapath, flow)
		if err != nil {
			t.Fatalf("ovn-trace: %v\n%s", err, out)
		}
		if testing.Verbose() {
			t.Logf("ovn-trace %s '%s':\n%s", datapath, flow, out)
		}
		return out
	}
	want := func(what, out string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(out, p) {
				t.Errorf("%s: trace lacks %q:\n%s", what, p, out)
			}
		}
	}
	out := func(port map[string]any, dst string) string {
		return `inport == "` + l3id(port) + `" && eth.src == ` + port["mac_address"].(string) + ` && eth.dst == ` + ifMAC +
			` && ip4.src == ` + fixedIP(port) + ` && ip4.dst == ` + dst + ` && ip.ttl == 64 && tcp && tcp.dst == 80`
	}

	// Out through SNAT to the gateway's address, onto the external network.
	tr := trace("neutron-"+l3id(vms), out(noFIP, "198.51.100.7"))
	want("VM without a floating IP to the internet", tr, "ct_snat", "ip4.src="+gwIP, `output("`+localnet+`")`, "eth.dst = 00:00:5e:00:01:01")
	// Out with its floating IP.
	tr = trace("neutron-"+l3id(vms), out(withFIP, "198.51.100.7"))
	want("VM with a floating IP to the internet", tr, "ct_snat", "ip4.src="+fipAddr, `output("`+localnet+`")`)
	if strings.Contains(tr, "ip4.src="+gwIP) {
		t.Errorf("VM with a floating IP left with the gateway's address:\n%s", tr)
	}

	// In to the floating IP: DNAT to the VM, delivered to its port.
	in := func(port int) string {
		return `inport == "` + localnet + `" && eth.src == 00:00:5e:00:01:01 && eth.dst == ` + gwMAC +
			` && ip4.src == 198.51.100.7 && ip4.dst == ` + fipAddr + ` && ip.ttl == 64 && tcp && tcp.dst == ` + strconv.Itoa(port)
	}
	tr = trace("neutron-"+l3id(ext), in(22))
	want("inbound ssh to the floating IP", tr, "ct_dnat", "ip4.dst="+fixedIP(withFIP), `output("`+l3id(withFIP)+`")`, "eth.dst = "+withFIP["mac_address"].(string))
	// Port 80 is not open in the VM's security group: translated, not delivered.
	tr = trace("neutron-"+l3id(ext), in(80))
	want("inbound http to the floating IP", tr, "ct_dnat", "ip4.dst="+fixedIP(withFIP))
	if strings.Contains(tr, `output("`+l3id(withFIP)+`")`) {
		t.Errorf("port 80 delivered to the VM although its security group opens only 22:\n%s", tr)
	}

	// Disassociated: the floating IP no longer reaches the VM.
	a.must(200, "PUT", "/v2.0/floatingips/"+l3id(fip), map[string]any{"floatingip": map[string]any{"port_id": nil}}, "floatingip")
	l3eventually(t, 10*time.Second, "floating IP NAT removed", func() bool { return len(e.nat(r)) == 1 })
	e.o.Sync(t)
	tr = trace("neutron-"+l3id(ext), in(22))
	if strings.Contains(tr, `output("`+l3id(withFIP)+`")`) || strings.Contains(tr, "ct_dnat(") {
		t.Errorf("a disassociated floating IP still reaches the VM:\n%s", tr)
	}
}
