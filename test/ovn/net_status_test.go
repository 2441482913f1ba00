package ovn

import (
	"testing"
	"time"
)

// TestPortStatusFromOVN: a VM port turns ACTIVE once OVN reports it up
// (ovn-controller claims it in the southbound database and ovn-northd sets
// Logical_Switch_Port.up), which is what Nova waits for, and DOWN again
// when it is released.
func TestPortStatusFromOVN(t *testing.T) {
	e := netStart(t, true)
	e.o.SBCtl(t, "chassis-add", "chassis-hv1", "geneve", "127.0.0.1")
	e.o.SBCtl(t, "set", "Chassis", "chassis-hv1", "hostname=hv1")
	n := e.network("tenant", "geneve", nil)
	e.subnet(netID(n), "10.6.0.0/24")
	var p map[string]any
	netEventually(t, 10*time.Second, "the port to bind to hv1", func() bool {
		p = e.port(netID(n), map[string]any{"binding:host_id": "hv1"})
		return p["binding:vif_type"] == "ovs"
	})
	if p["status"] != "DOWN" {
		t.Fatalf("new port status %v", p["status"])
	}
	status := func() string {
		_, body := e.do("GET", "/v2.0/ports/"+netID(p), nil)
		return body["port"].(map[string]any)["status"].(string)
	}
	e.waitNB([]string{netID(p)}, "lsp-list", "neutron-"+netID(n))
	e.o.Sync(t) // the port's binding exists in SB

	// What ovn-controller on hv1 does when the VM's interface appears.
	e.o.SBCtl(t, "lsp-bind", netID(p), "chassis-hv1")
	took := netEventually(t, 10*time.Second, "status ACTIVE", func() bool { return status() == "ACTIVE" })
	t.Logf("port ACTIVE %v after the chassis claimed it", took.Round(time.Millisecond))
	e.o.SBCtl(t, "lsp-unbind", netID(p))
	netEventually(t, 10*time.Second, "status DOWN", func() bool { return status() == "DOWN" })
}
