package ovn

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/ovn/netsync"
	"github.com/spinel-net/spinel/internal/ovntest"
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
// DHCP subnet and 10 ports each, one security group) is stopped, its
// database deleted and created empty, and started again; the time from the
// stop until every row is back is reported next to the baseline measured
// in the same run: one netsync pass writing the same state (read back
// through the API) into an empty database of its own, the bare cost of
// writing these rows. The difference is the price of noticing, restarting,
// reconnecting and resynchronising.
func BenchmarkNetWipeRestore(b *testing.B) {
	e := netStart(b, false)
	lsps := e.netTopology(100, 10)
	netEventually(b, 120*time.Second, "the topology in NB", func() bool { return e.nbCount("Logical_Switch_Port") == lsps })
	before := e.dumpOwned()
	in := e.readBack()
	// A replica of NB tells cheaply when everything is back: the row
	// counts of every table and the members of switches and port groups.
	probe, err := ovsdb.Dial(e.o.NB.Endpoint(), ovsdb.Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer probe.Close()
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := probe.WaitConnected(wctx); err != nil {
		b.Fatal(err)
	}
	tables := map[string][]string{"Logical_Switch": {"ports"}, "Logical_Switch_Port": {"name"}, "DHCP_Options": {"cidr"}, "Port_Group": {"ports", "acls"}, "ACL": {"match"}}
	replica, err := probe.Monitor(context.Background(), "OVN_Northbound", tables)
	if err != nil {
		b.Fatal(err)
	}
	shape := func() string {
		snap := replica.Snapshot()
		var out []string
		for t, rows := range snap {
			members := 0
			for _, r := range rows {
				for _, c := range tables[t] {
					if set, ok := r[c].(ovsdb.Set); ok {
						members += len(set)
					}
				}
			}
			out = append(out, fmt.Sprintf("%s %d %d", t, len(rows), members))
		}
		slices.Sort(out)
		return strings.Join(out, ", ")
	}
	var connects atomic.Int64
	probe.OnConnect(func() { connects.Add(1) })
	want := shape()
	if !strings.Contains(want, fmt.Sprintf("Logical_Switch_Port %d ", lsps)) {
		b.Fatalf("replica before the wipe: %s", want)
	}

	// Restore and baseline alternate, so that both see the same load.
	var restore, baseline time.Duration
	b.ResetTimer()
	for range b.N {
		baseline += e.baselinePass(in, lsps)
		start := time.Now()
		gen := connects.Load()
		e.o.NB.Wipe(b)
		// The replica follows once the probe has reconnected.
		for connects.Load() == gen || !replica.Synced() || shape() != want {
			if time.Since(start) > 60*time.Second {
				b.Fatalf("not restored in 60 s: %s, want %s", shape(), want)
			}
			time.Sleep(2 * time.Millisecond)
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
	b.ReportMetric(float64(baseline.Milliseconds())/float64(b.N), "write-ms")
	b.ReportMetric(float64(restore)/float64(baseline), "x-write")
	b.ReportMetric(float64(len(before)), "rows")
}

// readBack reads the topology back through the API.
func (e *netEnv) readBack() netsync.Input {
	e.t.Helper()
	var in netsync.Input
	list := func(path, key string, into any) {
		st, body := e.do("GET", path, nil)
		if st != 200 {
			e.t.Fatalf("GET %s: %d", path, st)
		}
		raw, _ := json.Marshal(body[key])
		if err := json.Unmarshal(raw, into); err != nil {
			e.t.Fatal(err)
		}
	}
	list("/v2.0/networks", "networks", &in.Networks)
	list("/v2.0/subnets", "subnets", &in.Subnets)
	list("/v2.0/ports", "ports", &in.Ports)
	list("/v2.0/security-groups", "security_groups", &in.SecurityGroups)
	list("/v2.0/security-group-rules", "security_group_rules", &in.Rules)
	return in
}

// baselinePass times one netsync pass writing in into a fresh NB database
// of its own.
func (e *netEnv) baselinePass(in netsync.Input, lsps int) time.Duration {
	e.t.Helper()
	db := ovntest.StartDB(e.t, ovntest.TempDir(e.t), ovntest.NBSchema)
	defer db.Stop()
	c, err := ovsdb.Dial(db.Endpoint(), ovsdb.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		e.t.Fatal(err)
	}
	src := &netsync.StaticSource{}
	src.Set(in)
	s := netsync.New(c, src, netsync.Config{Log: slog.New(slog.DiscardHandler)})
	start := time.Now() // the pass starts its monitor too: one round trip on an empty database
	st, err := s.SyncOnce(ctx)
	took := time.Since(start)
	if err != nil || st.Ops == 0 {
		e.t.Fatalf("baseline pass: %d ops, %v", st.Ops, err)
	}
	res, err := c.Transact(ctx, "OVN_Northbound", ovsdb.Select("Logical_Switch_Port", nil, "name"))
	if err != nil {
		e.t.Fatal(err)
	}
	if len(res[0].Rows) != lsps {
		e.t.Fatalf("baseline database holds %d switch ports, want %d", len(res[0].Rows), lsps)
	}
	return took
}
