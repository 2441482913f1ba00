package ovn

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/ovsdb"
)

// netTopology creates nets geneve networks with a DHCP subnet and ports
// VM ports each, all in one security group with two rules, and a vlan
// network; it returns the number of switch ports expected in NB.
func (e *netEnv) netTopology(nets, ports int) int {
	e.t.Helper()
	sg := e.create("security_group", map[string]any{"name": "vms"})
	e.create("security_group_rule", map[string]any{"security_group_id": netID(sg), "direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22})
	e.create("security_group_rule", map[string]any{"security_group_id": netID(sg), "direction": "ingress", "protocol": "icmp"})
	for i := range nets {
		n := e.network(fmt.Sprintf("net%d", i), "geneve", nil)
		e.subnet(netID(n), fmt.Sprintf("10.%d.%d.0/24", 100+i/256, i%256))
		for range ports {
			e.port(netID(n), map[string]any{"security_groups": []string{netID(sg)}})
		}
	}
	e.network("prov", "vlan", map[string]any{"provider:physical_network": "physnet1", "provider:segmentation_id": 150})
	return nets*ports + 1 // and the localnet port
}

// nbCount counts the rows of table in NB (-1 while NB is unreachable).
func (e *netEnv) nbCount(table string) int {
	out, err := e.o.NBCtlErr("--bare", "--columns=_uuid", "list", table)
	if err != nil {
		return -1
	}
	return len(netLines(out))
}

// TestWipedNBRestored: NB is stopped, its database deleted and created
// empty, and started again: spinel restores every row it owns, identical
// to before (references included), within a time the test reports.
func TestWipedNBRestored(t *testing.T) {
	e := netStart(t, false)
	lsps := e.netTopology(5, 4)
	netEventually(t, 20*time.Second, "the topology in NB", func() bool { return e.nbCount("Logical_Switch_Port") == lsps })
	before := e.dumpOwned()
	refsBefore := e.nbRefs()

	e.o.NB.Wipe(t)
	if n := e.nbCount("Logical_Switch"); n != 0 {
		t.Fatalf("wipe left %d switches", n)
	}
	took := netEventually(t, 30*time.Second, "every row restored", func() bool {
		return slices.Equal(e.dumpOwned(), before) && e.nbRefs() == refsBefore
	})
	t.Logf("NB wiped and restarted: %d rows restored in %v", len(before), took.Round(time.Millisecond))
	e.o.Sync(t) // and ovn-northd accepts them again
}

// nbRefs summarises the references between rows (ports in switches and
// groups, DHCP options of ports) by name, which the dump of columns leaves
// out.
func (e *netEnv) nbRefs() string {
	e.t.Helper()
	var out []string
	for _, l := range netLines(e.nbctl("--bare", "--columns=name,ports", "--format=csv", "list", "Port_Group")) {
		name, ports, _ := strings.Cut(l, ",")
		out = append(out, fmt.Sprintf("pg %s %d", name, len(strings.Fields(ports))))
	}
	for _, l := range netLines(e.nbctl("--bare", "--columns=name,ports", "--format=csv", "list", "Logical_Switch")) {
		name, ports, _ := strings.Cut(l, ",")
		out = append(out, fmt.Sprintf("ls %s %d", name, len(strings.Fields(ports))))
	}
	withDHCP := 0
	for _, l := range netLines(e.nbctl("--bare", "--columns=dhcpv4_options", "list", "Logical_Switch_Port")) {
		if l != "" {
			withDHCP++
		}
	}
	out = append(out, fmt.Sprintf("ports with dhcpv4 %d", withDHCP))
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// TestNBOutage: while NB is down the API keeps working; what changed in
// the meantime is in NB shortly after it comes back.
func TestNBOutage(t *testing.T) {
	e := netStart(t, false)
	n := e.network("before", "geneve", nil)
	e.waitNB([]string{"neutron-" + netID(n)}, "ls-list")

	e.o.NB.Stop()
	late := e.network("during", "geneve", nil)
	e.subnet(netID(late), "10.9.0.0/24")
	p := e.port(netID(late), nil)
	e.remove("network", netID(n))
	time.Sleep(300 * time.Millisecond) // passes fail meanwhile
	e.o.NB.Start(t)
	took := netEventually(t, 20*time.Second, "the changes made during the outage", func() bool {
		ls, err := e.o.NBCtlErr("ls-list")
		return err == nil && strings.Contains(ls, netID(late)) && !strings.Contains(ls, netID(n)) &&
			strings.Contains(e.nbctl("lsp-list", "neutron-"+netID(late)), netID(p))
	})
	t.Logf("NB back: changes made during the outage in NB after %v", took.Round(time.Millisecond))
}

// BenchmarkNetWipeRestore: NB holding 1,000 VM ports (100 networks with a
// DHCP subnet and 10 ports each, one security group) is wiped and
// restarted; the time until every row is back is reported next to the
// baseline measured in the same run: the time until a bare OVSDB client
// of the same restarted server is connected again.
func BenchmarkNetWipeRestore(b *testing.B) {
	e := netStart(b, false)
	lsps := e.netTopology(100, 10)
	netEventually(b, 120*time.Second, "the topology in NB", func() bool { return e.nbCount("Logical_Switch_Port") == lsps })
	before := e.dumpOwned()
	probe, err := ovsdb.Dial(e.o.NB.Endpoint(), ovsdb.Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer probe.Close()
	var restore, reconnect time.Duration
	b.ResetTimer()
	for range b.N {
		e.o.NB.Wipe(b)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		for probe.WaitConnected(ctx) == nil && probe.Echo(ctx) != nil {
			time.Sleep(time.Millisecond)
		}
		cancel()
		reconnect += time.Since(start)
		for e.nbCount("Logical_Switch_Port") != lsps {
			if time.Since(start) > 60*time.Second {
				b.Fatal("not restored in 60 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		restore += time.Since(start)
	}
	b.StopTimer()
	if got := e.dumpOwned(); !slices.Equal(got, before) {
		var diff []string
		for _, l := range got {
			if !slices.Contains(before, l) && len(diff) < 5 {
				diff = append(diff, "+ "+l)
			}
		}
		for _, l := range before {
			if !slices.Contains(got, l) && len(diff) < 10 {
				diff = append(diff, "- "+l)
			}
		}
		b.Fatalf("restored rows differ: %d rows, want %d:\n%s", len(got), len(before), strings.Join(diff, "\n"))
	}
	b.ReportMetric(float64(restore.Milliseconds())/float64(b.N), "restore-ms")
	b.ReportMetric(float64(reconnect.Milliseconds())/float64(b.N), "reconnect-ms")
	b.ReportMetric(float64(restore)/float64(reconnect), "x-reconnect")
	b.ReportMetric(float64(len(before)), "rows")
}
