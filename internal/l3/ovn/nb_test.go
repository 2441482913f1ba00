package ovn

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/ovntest"
	"github.com/spinel-net/spinel/internal/ovsdb"
)

// countingNB counts the transactions a driver sends.
type countingNB struct {
	*ovsdb.Client
	txns atomic.Int64
}

func (c *countingNB) Transact(ctx context.Context, db string, ops ...ovsdb.Operation) ([]ovsdb.OpResult, error) {
	c.txns.Add(1)
	return c.Client.Transact(ctx, db, ops...)
}

type env struct {
	t      *testing.T
	o      *ovntest.OVN
	nb     *countingNB
	d      *Driver
	resync chan struct{}
}

func testLog() *slog.Logger {
	if os.Getenv("SPINEL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// start runs a real northbound ovsdb-server and a driver connected to it
// with gateway chassis gw1 (priority 2) and gw2 (priority 1).
func start(t *testing.T) *env {
	t.Helper()
	dir := ovntest.TempDir(t)
	o := &ovntest.OVN{Dir: dir, NB: ovntest.StartDB(t, dir, ovntest.NBSchema)}
	c, err := ovsdb.Dial(o.NB.Endpoint(), ovsdb.Options{Logger: testLog(), MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := c.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	nb := &countingNB{Client: c}
	d, err := New(ctx, nb, Options{GatewayChassis: []GatewayChassis{{"gw1", 2}, {"gw2", 1}}, Timeout: 5 * time.Second, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, o: o, nb: nb, d: d, resync: make(chan struct{}, 16)}
	d.SetResync(func() {
		select {
		case e.resync <- struct{}{}:
		default:
		}
	})
	return e
}

func (e *env) sync(r *l3.Router) l3.Status {
	e.t.Helper()
	st, err := e.d.Sync(context.Background(), r)
	if err != nil {
		e.t.Fatalf("Sync: %v", err)
	}
	return st
}

// caughtUp waits until the driver's replica reflects every change made
// so far (changes behind the driver's back reach it asynchronously; a Sync
// planned before they arrive repairs them at the router's next sync).
func (e *env) caughtUp() {
	e.t.Helper()
	if err := e.nb.Echo(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) nbctl(args ...string) string {
	e.t.Helper()
	return strings.TrimSpace(e.o.NBCtl(e.t, args...))
}

// lines splits and sorts output lines, dropping blank ones.
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

func wantLines(t *testing.T, what, got string, want ...string) {
	t.Helper()
	sort.Strings(want)
	if g := lines(got); strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got %q\nwant %q", what, g, want)
	}
}

func (e *env) waitResync(what string) {
	e.t.Helper()
	select {
	case <-e.resync:
	case <-time.After(10 * time.Second):
		e.t.Fatalf("no resync requested %s", what)
	}
}

func (e *env) drainResync() {
	for {
		select {
		case <-e.resync:
		default:
			return
		}
	}
}

// TestSyncRouter: a router's complete state lands in NB as Neutron's OVN
// driver writes it (read back with ovn-nbctl), and the same state again
// costs no transaction.
func TestSyncRouter(t *testing.T) {
	e := start(t)
	st := e.sync(fixture())
	if st.Router != "ACTIVE" || st.FloatingIPs["f1"] != "ACTIVE" || len(st.FloatingIPs) != 1 {
		t.Errorf("status %+v", st)
	}
	wantLines(t, "routers", e.nbctl("--bare", "--columns=name,enabled", "list", "Logical_Router"), "neutron-r1", "true")
	ids := e.nbctl("get", "Logical_Router", "neutron-r1", "external_ids")
	for _, kv := range []string{`"neutron:router_name"=edge`, `"neutron:router_id"=r1`, `"neutron:gw_port_id"=gw`, `"neutron:revision_number"="7"`, `"spinel:owner"=l3-ovn`} {
		if !strings.Contains(ids, kv) {
			t.Errorf("router external_ids %s lack %s", ids, kv)
		}
	}
	wantLines(t, "router ports", e.nbctl("--bare", "--columns=name", "list", "Logical_Router_Port"), "lrp-gw", "lrp-p1", "lrp-p2")
	if got := e.nbctl("get", "Logical_Router_Port", "lrp-p1", "mac", "networks"); got != "\"fa:16:3e:00:00:01\"\n[\"10.0.0.1/24\", \"fd00::1/64\"]" {
		t.Errorf("lrp-p1 mac, networks: %q", got)
	}
	if got := e.nbctl("get", "Logical_Router_Port", "lrp-gw", "networks"); got != `["2001:db8::10/64", "203.0.113.10/24"]` {
		t.Errorf("lrp-gw networks: %q", got)
	}
	wantLines(t, "gateway chassis", e.nbctl("lrp-get-gateway-chassis", "lrp-gw"), "lrp-gw_gw1 2", "lrp-gw_gw2 1")
	wantLines(t, "NAT", e.nbctl("lr-nat-list", "neutron-r1"),
		"TYPE GATEWAY_PORT EXTERNAL_IP EXTERNAL_PORT LOGICAL_IP EXTERNAL_MAC LOGICAL_PORT",
		"dnat_and_snat 203.0.113.20 10.0.0.5",
		"snat 203.0.113.10 10.0.0.0/24",
		"snat 203.0.113.10 10.9.0.0/16")
	// Centralized: logical_port set, no external_mac (lr-nat-list shows
	// both only together).
	wantLines(t, "floating IP NAT", e.nbctl("--bare", "--columns=logical_port,external_mac,external_ids", "find", "NAT", "type=dnat_and_snat"),
		"vm", `neutron:fip_external_mac=fa:16:3e:00:00:05 neutron:fip_id=f1 neutron:fip_network_id=ext neutron:fip_port_id=vm neutron:revision_number=3 neutron:router_name=neutron-r1 spinel:owner=l3-ovn`)
	wantLines(t, "routes", e.nbctl("lr-route-list", "neutron-r1"),
		"IPv4 Routes", "Route Table <main>:", "192.168.0.0/16 10.0.0.254 dst-ip", "0.0.0.0/0 203.0.113.1 dst-ip",
		"IPv6 Routes", "Route Table <main>:", "::/0 2001:db8::1 dst-ip")

	n := e.nb.txns.Load()
	e.sync(fixture())
	if got := e.nb.txns.Load() - n; got != 0 {
		t.Errorf("an unchanged router cost %d transactions", got)
	}
	// A revision bump alone (a status change) is not written either.
	r := fixture()
	r.Router.RevisionNumber++
	r.FloatingIPs[0].FloatingIP.RevisionNumber++
	e.sync(r)
	if got := e.nb.txns.Load() - n; got != 0 {
		t.Errorf("a revision bump cost %d transactions", got)
	}
}

// TestSyncConverges: changes to the desired state, and tampering with the
// driver's rows, are reconciled in one transaction; rows the driver does
// not own are left alone.
func TestSyncConverges(t *testing.T) {
	e := start(t)
	e.sync(fixture())
	// An operator's own rows on the router, and tampering with ours.
	e.nbctl("lr-nat-add", "neutron-r1", "dnat_and_snat", "203.0.113.99", "10.0.0.99")
	e.nbctl("lr-route-add", "neutron-r1", "172.16.0.0/12", "10.0.0.253")
	e.nbctl("lr-nat-del", "neutron-r1", "snat", "10.9.0.0/16")
	e.nbctl("set", "Logical_Router_Port", "lrp-p1", "mac=\"00:00:00:00:00:01\"")
	e.nbctl("set", "Logical_Router", "neutron-r1", "enabled=false")
	e.caughtUp()

	r := fixture()
	r.Interfaces = r.Interfaces[:1] // p2 removed
	r.FloatingIPs = nil             // f1 disassociated
	r.Router.Routes = nil
	r.Gateway.EnableSNAT = true
	n := e.nb.txns.Load()
	st := e.sync(r)
	if got := e.nb.txns.Load() - n; got != 1 {
		t.Errorf("reconciling took %d transactions, want 1", got)
	}
	if len(st.FloatingIPs) != 0 {
		t.Errorf("floating IP statuses %v", st.FloatingIPs)
	}
	wantLines(t, "router ports", e.nbctl("--bare", "--columns=name", "list", "Logical_Router_Port"), "lrp-gw", "lrp-p1")
	if got := e.nbctl("get", "Logical_Router_Port", "lrp-p1", "mac"); got != `"fa:16:3e:00:00:01"` {
		t.Errorf("tampered mac not restored: %s", got)
	}
	if got := e.nbctl("get", "Logical_Router", "neutron-r1", "enabled"); got != "true" {
		t.Errorf("tampered enabled not restored: %s", got)
	}
	wantLines(t, "NAT", e.nbctl("lr-nat-list", "neutron-r1"),
		"TYPE GATEWAY_PORT EXTERNAL_IP EXTERNAL_PORT LOGICAL_IP EXTERNAL_MAC LOGICAL_PORT",
		"dnat_and_snat 203.0.113.99 10.0.0.99", // the operator's
		"snat 203.0.113.10 10.0.0.0/24")
	wantLines(t, "routes", e.nbctl("lr-route-list", "neutron-r1"),
		"IPv4 Routes", "Route Table <main>:", "172.16.0.0/12 10.0.0.253 dst-ip", "0.0.0.0/0 203.0.113.1 dst-ip",
		"IPv6 Routes", "Route Table <main>:", "::/0 2001:db8::1 dst-ip")
	// The removed rows are gone from NB, not only unreferenced.
	if got := e.nbctl("--bare", "--columns=name", "find", "Logical_Router_Port", "name=lrp-p2"); got != "" {
		t.Errorf("lrp-p2 still in NB: %q", got)
	}

	// SNAT off, gateway chassis changed, distributed floating IP.
	r.Gateway.EnableSNAT = false
	r.Router.Distributed = true
	r.FloatingIPs = fixture().FloatingIPs
	e.d.chassis = []GatewayChassis{{"gw2", 5}, {"gw3", 4}}
	e.sync(r)
	wantLines(t, "gateway chassis after change", e.nbctl("lrp-get-gateway-chassis", "lrp-gw"), "lrp-gw_gw2 5", "lrp-gw_gw3 4")
	wantLines(t, "NAT after change", e.nbctl("lr-nat-list", "neutron-r1"),
		"TYPE GATEWAY_PORT EXTERNAL_IP EXTERNAL_PORT LOGICAL_IP EXTERNAL_MAC LOGICAL_PORT",
		"dnat_and_snat 203.0.113.99 10.0.0.99",
		"dnat_and_snat 203.0.113.20 10.0.0.5 fa:16:3e:00:00:05 vm")
	if got := e.nbctl("--bare", "--columns=_uuid", "list", "Gateway_Chassis"); len(lines(got)) != 2 {
		t.Errorf("stale Gateway_Chassis rows left: %q", got)
	}
}

// TestGuard: a plan made from a stale view of the database fails at its
// guard instead of writing a duplicate router; Sync catches up and
// succeeds.
func TestGuard(t *testing.T) {
	e := start(t)
	e.sync(fixture())
	want := build(fixture(), e.d.chassis)
	ops := plan(want, nil, e.d.cache) // as if the router were not there yet
	_, err := e.nb.Transact(context.Background(), nbDB, ops...)
	te, ok := errors.AsType[*ovsdb.TxnError](err)
	if !ok || te.Index != 0 {
		t.Fatalf("stale plan: %v, want the guard (operation 0) to fail", err)
	}
	if got := e.nbctl("--bare", "--columns=name", "list", "Logical_Router"); got != "neutron-r1" {
		t.Errorf("routers after a stale plan: %q", got)
	}
	// A stale index makes Sync retry, not fail.
	e.d.idxMu.Lock()
	e.d.idx, e.d.idxStale = map[string][]ovsdb.UUID{}, false
	e.d.idxMu.Unlock()
	r := fixture()
	r.Router.Name = "renamed"
	e.sync(r)
	if got := e.nbctl("get", "Logical_Router", "neutron-r1", "external_ids:\"neutron:router_name\""); got != "renamed" {
		t.Errorf("router name %s", got)
	}
	// Deleted behind the driver's back: the index is found wrong and the
	// router written again.
	e.nbctl("lr-del", "neutron-r1")
	e.caughtUp()
	e.sync(r)
	if got := e.nbctl("--bare", "--columns=name", "list", "Logical_Router"); got != "neutron-r1" {
		t.Errorf("routers after a deletion behind the driver's back: %q", got)
	}
	wantLines(t, "gateway chassis restored", e.nbctl("lrp-get-gateway-chassis", "lrp-gw"), "lrp-gw_gw1 2", "lrp-gw_gw2 1")
}

// TestDeleteAndSweep: Delete removes the router with its rows; Sweep
// removes the driver's routers that no longer exist and nothing else.
func TestDeleteAndSweep(t *testing.T) {
	e := start(t)
	e.nbctl("lr-add", "foreign") // not ours
	for _, id := range []string{"r1", "r2", "r3"} {
		r := fixture()
		r.Router.ID = id
		for i := range r.Interfaces {
			r.Interfaces[i].Port.ID += id
		}
		r.Gateway.Port.ID += id
		e.sync(r)
	}
	if err := e.d.Delete(context.Background(), "r1"); err != nil {
		t.Fatal(err)
	}
	if err := e.d.Delete(context.Background(), "r1"); err != nil {
		t.Errorf("deleting a deleted router: %v", err)
	}
	wantLines(t, "routers after delete", e.nbctl("--bare", "--columns=name", "list", "Logical_Router"), "foreign", "neutron-r2", "neutron-r3")
	if got := e.nbctl("--bare", "--columns=name", "find", "Logical_Router_Port", "name=lrp-p1r1"); got != "" {
		t.Errorf("router ports of a deleted router left: %q", got)
	}
	time.Sleep(100 * time.Millisecond) // let the replica catch up
	var asked []string
	err := e.d.Sweep(context.Background(), func(id string) bool { asked = append(asked, id); return id == "r2" })
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(asked)
	if strings.Join(asked, ",") != "r2,r3" {
		t.Errorf("sweep asked about %v", asked)
	}
	wantLines(t, "routers after sweep", e.nbctl("--bare", "--columns=name", "list", "Logical_Router"), "foreign", "neutron-r2")
	for _, tbl := range []string{"NAT", "Logical_Router_Static_Route", "Gateway_Chassis", "Logical_Router_Port"} {
		rows := lines(e.nbctl("--bare", "--columns=_uuid", "list", tbl))
		want := map[string]int{"NAT": 3, "Logical_Router_Static_Route": 3, "Gateway_Chassis": 2, "Logical_Router_Port": 3}[tbl]
		if len(rows) != want {
			t.Errorf("%s: %d rows left, want %d (router r2's)", tbl, len(rows), want)
		}
	}
}

// TestUnreachableAndWipe: with NB down Sync fails at once and a resync is
// requested (so routers turn ERROR); when NB is back empty, a resync is
// requested and Sync restores every row.
func TestUnreachableAndWipe(t *testing.T) {
	e := start(t)
	e.sync(fixture())
	e.drainResync()

	e.o.NB.Stop()
	e.waitResync("after the connection was lost")
	start := time.Now()
	_, err := e.d.Sync(context.Background(), fixture())
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Sync with NB down: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("Sync with NB down took %v", time.Since(start))
	}
	if err := e.d.Delete(context.Background(), "r1"); err == nil {
		t.Error("Delete with NB down succeeded")
	}

	e.drainResync()
	e.o.NB.Wipe(t) // restarts it empty
	e.waitResync("after reconnecting")
	e.sync(fixture())
	wantLines(t, "routers restored", e.nbctl("--bare", "--columns=name", "list", "Logical_Router"), "neutron-r1")
	wantLines(t, "NAT restored", e.nbctl("lr-nat-list", "neutron-r1"),
		"TYPE GATEWAY_PORT EXTERNAL_IP EXTERNAL_PORT LOGICAL_IP EXTERNAL_MAC LOGICAL_PORT",
		"dnat_and_snat 203.0.113.20 10.0.0.5",
		"snat 203.0.113.10 10.0.0.0/24",
		"snat 203.0.113.10 10.9.0.0/16")
}

// TestShortOutage: NB restarted within the grace period asks for one
// resync (on reconnection, to restore anything lost), not a second one to
// report every router ERROR.
func TestShortOutage(t *testing.T) {
	e := start(t)
	e.sync(fixture())
	e.drainResync()
	e.o.NB.Restart(t)
	e.waitResync("after reconnecting")
	select {
	case <-e.resync:
		t.Error("a restart shorter than ErrorAfter asked for a second resync (routers would flap to ERROR)")
	case <-time.After(e.d.grace + 3*pollInterval):
	}
	e.sync(fixture())
}
