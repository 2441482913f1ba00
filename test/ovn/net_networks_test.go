package ovn

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestNetworksInNB: geneve, vlan and flat networks become Logical_Switches
// named neutron-<id> with Neutron's external_ids; provider networks get a
// localnet port (the VLAN as its tag); routed networks stay out of OVN;
// renaming and deleting follow.
func TestNetworksInNB(t *testing.T) {
	e := netStart(t, false)
	gen := e.network("tenant", "geneve", nil)
	vlan := e.network("prov", "vlan", map[string]any{"provider:physical_network": "physnet1", "provider:segmentation_id": 142})
	flat := e.network("ext", "flat", map[string]any{"provider:physical_network": "physnet2", "router:external": true})
	routed := e.network("routed", "", nil) // the default type, routed

	for _, n := range []map[string]any{gen, vlan, flat} {
		ls := "neutron-" + netID(n)
		out := e.waitNB([]string{ls}, "--bare", "--columns=name", "find", "Logical_Switch", "name="+ls)
		if out != ls {
			t.Errorf("switch of %s: %q", n["name"], out)
		}
		ext := e.nbctl("get", "Logical_Switch", ls, "external_ids")
		for _, kv := range []string{`"neutron:network_name"=` + n["name"].(string), `"neutron:mtu"="` + jsonNum(n["mtu"]) + `"`, `"neutron:revision_number"=`, `"spinel:owner"=netsync`} {
			if !strings.Contains(ext, kv) {
				t.Errorf("%s external_ids %s: no %s", ls, ext, kv)
			}
		}
	}
	if out := e.nbctl("--bare", "--columns=name", "find", "Logical_Switch", "name=neutron-"+netID(routed)); out != "" {
		t.Errorf("a routed network got a switch: %q", out)
	}

	// Localnet ports: provnet-<network id> on vlan and flat networks only.
	vl := "provnet-" + netID(vlan)
	if got := e.nbctl("lsp-list", "neutron-"+netID(vlan)); !strings.Contains(got, "("+vl+")") {
		t.Fatalf("vlan switch ports: %q", got)
	}
	if got := e.nbctl("lsp-get-type", vl); got != "localnet" {
		t.Errorf("type %q", got)
	}
	if got := e.nbctl("get", "Logical_Switch_Port", vl, "tag"); got != "142" {
		t.Errorf("vlan tag %q", got)
	}
	if got := e.nbctl("get", "Logical_Switch_Port", vl, "options:network_name"); got != "physnet1" {
		t.Errorf("vlan physical network %q", got)
	}
	if got := e.nbctl("lsp-get-addresses", vl); got != "unknown" {
		t.Errorf("localnet addresses %q", got)
	}
	fl := "provnet-" + netID(flat)
	if got := e.nbctl("get", "Logical_Switch_Port", fl, "tag"); got != "[]" {
		t.Errorf("flat tag %q", got)
	}
	if got := e.nbctl("get", "Logical_Switch_Port", fl, "options:network_name"); got != "physnet2" {
		t.Errorf("flat physical network %q", got)
	}
	if got := e.nbctl("lsp-list", "neutron-"+netID(gen)); got != "" {
		t.Errorf("geneve switch has ports: %q", got)
	}

	// A rename shows in external_ids; a deletion removes switch and ports.
	e.update("network", netID(gen), map[string]any{"name": "renamed"})
	e.waitNB([]string{"renamed"}, "get", "Logical_Switch", "neutron-"+netID(gen), "external_ids:neutron\\:network_name")
	e.remove("network", netID(vlan))
	netEventually(t, 10*time.Second, "the vlan switch to go", func() bool {
		out, err := e.o.NBCtlErr("--bare", "--columns=name", "list", "Logical_Switch_Port")
		return err == nil && !strings.Contains(out, vl) &&
			e.nbctl("--bare", "--columns=name", "find", "Logical_Switch", "name=neutron-"+netID(vlan)) == ""
	})
	e.o.Sync(t) // ovn-northd takes all of it
	if got := e.o.SBCtl(t, "--bare", "--columns=external_ids", "list", "Datapath_Binding"); !strings.Contains(got, netID(flat)) {
		t.Errorf("northd made no datapath for the flat network: %q", got)
	}
}

func jsonNum(v any) string { return fmt.Sprint(int(v.(float64))) }
