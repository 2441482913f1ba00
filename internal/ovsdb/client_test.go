package ovsdb_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/ovntest"
	"github.com/spinel-net/spinel/internal/ovsdb"
	"github.com/spinel-net/spinel/internal/ovsdb/nb"
)

const NB = nb.Database

// startNB starts an NB ovsdb-server and a connected client.
func startNB(t testing.TB, opts ovsdb.Options) (*ovntest.DB, *ovsdb.Client) {
	t.Helper()
	db := ovntest.StartDB(t, ovntest.TempDir(t), ovntest.NBSchema)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 20 * time.Millisecond
		opts.MaxBackoff = 200 * time.Millisecond
	}
	c, err := ovsdb.Dial(db.Endpoint(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatalf("not connected: %v", err)
	}
	return db, c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustTransact(t testing.TB, c *ovsdb.Client, ops ...ovsdb.Operation) []ovsdb.OpResult {
	t.Helper()
	res, err := c.Transact(ctxT(t), NB, ops...)
	if err != nil {
		t.Fatalf("transact: %v", err)
	}
	return res
}

func TestDialRejectsBadEndpoints(t *testing.T) {
	for _, ep := range []string{"", "unix:", "ssl:1.2.3.4:5", "tcp:nohostport", "/path"} {
		if _, err := ovsdb.Dial(ep, ovsdb.Options{}); err == nil {
			t.Errorf("Dial(%q) succeeded", ep)
		}
	}
}

func TestTransactEveryOperation(t *testing.T) {
	_, c := startNB(t, ovsdb.Options{})
	ctx := ctxT(t)

	// insert: a switch and a port referring to each other by uuid-name.
	res := mustTransact(t, c,
		ovsdb.Insert(nb.LogicalSwitchPortTable, ovsdb.Row{
			"name": "p1", "addresses": []string{"00:00:00:00:00:01 10.0.0.1"},
			"tag_request": 7, "external_ids": map[string]string{"k": "v"},
		}, "p1"),
		ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"name": "sw0", "ports": []string{"p1"}}, "sw0"),
		ovsdb.Comment("spinel test"),
	)
	if len(res) != 3 || !ovsdb.IsUUID(string(res[0].UUID)) || !ovsdb.IsUUID(string(res[1].UUID)) {
		t.Fatalf("insert results %+v", res)
	}
	lsp, ls := res[0].UUID, res[1].UUID

	// select, with and without columns.
	res = mustTransact(t, c, ovsdb.Select(nb.LogicalSwitchTable, []ovsdb.Condition{ovsdb.Equal("name", "sw0")}))
	if len(res[0].Rows) != 1 {
		t.Fatalf("select: %+v", res)
	}
	var sw nb.LogicalSwitch
	if err := ovsdb.Unmarshal(res[0].Rows[0], &sw); err != nil {
		t.Fatal(err)
	}
	if sw.UUID != string(ls) || sw.Name != "sw0" || len(sw.Ports) != 1 || sw.Ports[0] != string(lsp) {
		t.Fatalf("selected %+v", sw)
	}
	res = mustTransact(t, c, ovsdb.Select(nb.LogicalSwitchPortTable, []ovsdb.Condition{ovsdb.ByUUID(lsp)}, "tag_request", "name"))
	if got := res[0].Rows[0]; len(got) != 2 || got["name"] != "p1" || fmt.Sprint(got["tag_request"]) != "[7]" {
		t.Fatalf("select columns: %#v", got)
	}

	// update: a scalar, an optional value and a map.
	res = mustTransact(t, c, ovsdb.Update(nb.LogicalSwitchPortTable, []ovsdb.Condition{ovsdb.Equal("name", "p1")},
		ovsdb.Row{"type": "localnet", "tag_request": (*int)(nil), "options": map[string]string{"network_name": "physnet1"}}))
	if res[0].Count != 1 {
		t.Fatalf("update count %d", res[0].Count)
	}

	// mutate: map insert and key delete, set insert and delete, arithmetic.
	mustTransact(t, c, ovsdb.Mutate(nb.LogicalSwitchPortTable, []ovsdb.Condition{ovsdb.ByUUID(lsp)},
		ovsdb.InsertInto("external_ids", map[string]string{"a": "1", "b": "2"}),
		ovsdb.DeleteFrom("external_ids", []string{"k"}),
		ovsdb.InsertInto("port_security", []string{"00:00:00:00:00:01 10.0.0.1", "x"}),
		ovsdb.DeleteFrom("port_security", "x"),
	))
	res = mustTransact(t, c, ovsdb.Mutate(nb.NBGlobalTable, nil, ovsdb.Mutation{Column: "nb_cfg", Mutator: "+=", Value: 5}))
	if res[0].Count != 0 {
		t.Fatalf("NB_Global exists in a fresh database? count %d", res[0].Count)
	}
	mustTransact(t, c, ovsdb.Insert(nb.NBGlobalTable, ovsdb.Row{}, ""))
	mustTransact(t, c, ovsdb.Mutate(nb.NBGlobalTable, nil, ovsdb.Mutation{Column: "nb_cfg", Mutator: "+=", Value: 5}))

	res = mustTransact(t, c,
		ovsdb.Select(nb.LogicalSwitchPortTable, []ovsdb.Condition{ovsdb.ByUUID(lsp)}),
		ovsdb.Select(nb.NBGlobalTable, nil, "nb_cfg"))
	var p nb.LogicalSwitchPort
	if err := ovsdb.Unmarshal(res[0].Rows[0], &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "localnet" || p.TagRequest != nil || p.Options["network_name"] != "physnet1" ||
		fmt.Sprint(p.ExternalIDs) != "map[a:1 b:2]" || fmt.Sprint(p.PortSecurity) != "[00:00:00:00:00:01 10.0.0.1]" {
		t.Fatalf("after update and mutate: %+v", p)
	}
	if res[1].Rows[0]["nb_cfg"] != 5 {
		t.Fatalf("nb_cfg %#v", res[1].Rows[0])
	}

	// wait: satisfied, and failing at once.
	mustTransact(t, c, ovsdb.Wait(nb.LogicalSwitchTable, 0, []ovsdb.Condition{ovsdb.Equal("name", "sw0")},
		[]string{"name"}, "==", []ovsdb.Row{{"name": "sw0"}}))
	_, err := c.Transact(ctx, NB, ovsdb.Wait(nb.LogicalSwitchTable, 0, []ovsdb.Condition{ovsdb.Equal("name", "sw0")},
		[]string{"name"}, "!=", []ovsdb.Row{{"name": "sw0"}}))
	var te *ovsdb.TxnError
	if !errors.As(err, &te) || te.Index != 0 || te.Err != "timed out" {
		t.Fatalf("failing wait: %v", err)
	}

	// delete: the switch; its port goes with it (not a root table).
	res = mustTransact(t, c, ovsdb.Delete(nb.LogicalSwitchTable, ovsdb.ByUUID(ls)))
	if res[0].Count != 1 {
		t.Fatalf("delete count %d", res[0].Count)
	}
	res = mustTransact(t, c, ovsdb.Select(nb.LogicalSwitchPortTable, nil))
	if len(res[0].Rows) != 0 {
		t.Fatalf("orphaned port not garbage collected: %v", res[0].Rows)
	}
}

func TestTransactErrors(t *testing.T) {
	_, c := startNB(t, ovsdb.Options{})
	ctx := ctxT(t)
	mustTransact(t, c,
		ovsdb.Insert(nb.LogicalSwitchPortTable, ovsdb.Row{"name": "p1"}, "p1"),
		ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"name": "sw0", "ports": []string{"p1"}}, ""))

	var te *ovsdb.TxnError
	// A duplicate in an index: the commit fails, reported after the ops.
	ops := []ovsdb.Operation{
		ovsdb.Insert(nb.LogicalSwitchPortTable, ovsdb.Row{"name": "p1"}, "dup"),
		ovsdb.Mutate(nb.LogicalSwitchTable, []ovsdb.Condition{ovsdb.Equal("name", "sw0")}, ovsdb.InsertInto("ports", []string{"dup"})),
	}
	_, err := c.Transact(ctx, NB, ops...)
	if !errors.As(err, &te) || te.Err != "constraint violation" || te.Index != len(ops) {
		t.Fatalf("duplicate index: %v", err)
	}
	// A reference to a row that does not exist.
	_, err = c.Transact(ctx, NB, ovsdb.Insert(nb.LogicalSwitchTable,
		ovsdb.Row{"name": "sw1", "ports": []ovsdb.UUID{"8d7c0ec9-1b29-4bca-9c5e-0b2b1bf2d0d3"}}, ""))
	if !errors.As(err, &te) || te.Err != "referential integrity violation" {
		t.Fatalf("dangling reference: %v", err)
	}
	// Constraints checked by the server: range and enum.
	_, err = c.Transact(ctx, NB, ovsdb.Insert(nb.ACLTable, ovsdb.Row{"priority": 99999, "direction": "to-lport", "match": "1", "action": "drop"}, ""))
	if !errors.As(err, &te) || te.Index != 0 || te.Err != "constraint violation" {
		t.Fatalf("priority out of range: %v", err)
	}
	_, err = c.Transact(ctx, NB, ovsdb.Insert(nb.ACLTable, ovsdb.Row{"priority": 1, "direction": "sideways", "match": "1", "action": "drop"}, ""))
	if !errors.As(err, &te) || te.Err != "constraint violation" {
		t.Fatalf("enum: %v", err)
	}
	// A later failure undoes the earlier operations.
	_, err = c.Transact(ctx, NB,
		ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"name": "ghost"}, ""),
		ovsdb.Wait(nb.LogicalSwitchTable, 0, nil, []string{"name"}, "==", nil))
	if !errors.As(err, &te) || te.Index != 1 {
		t.Fatalf("second op failing: %v", err)
	}
	if res := mustTransact(t, c, ovsdb.Select(nb.LogicalSwitchTable, []ovsdb.Condition{ovsdb.Equal("name", "ghost")})); len(res[0].Rows) != 0 {
		t.Fatal("a failed transaction left a row behind")
	}

	// Errors found before sending: never a panic, always an error.
	for name, op := range map[string]ovsdb.Operation{
		"unknown table":      ovsdb.Insert("Nope", ovsdb.Row{}, ""),
		"unknown column":     ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"nope": 1}, ""),
		"string for int":     ovsdb.Insert(nb.ACLTable, ovsdb.Row{"priority": "high"}, ""),
		"int for string":     ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"name": 3}, ""),
		"map for set":        ovsdb.Insert(nb.LogicalSwitchPortTable, ovsdb.Row{"addresses": map[string]string{}}, ""),
		"slice for map":      ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"external_ids": []string{"a"}}, ""),
		"bad uuid":           ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"ports": []string{"not a uuid"}}, ""),
		"bad UUID value":     ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"ports": []ovsdb.UUID{"x"}}, ""),
		"nil for scalar":     ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"name": (*string)(nil)}, ""),
		"bad where column":   ovsdb.Delete(nb.LogicalSwitchTable, ovsdb.Equal("nope", 1)),
		"bad function":       ovsdb.Delete(nb.LogicalSwitchTable, ovsdb.Where("name", "~=", "x")),
		"bad mutator":        ovsdb.Mutate(nb.LogicalSwitchTable, nil, ovsdb.Mutation{Column: "name", Mutator: "append", Value: "x"}),
		"unknown op":         {Op: "frobnicate", Table: nb.LogicalSwitchTable},
		"bad wait until":     ovsdb.Wait(nb.LogicalSwitchTable, 0, nil, nil, "<", nil),
		"bad uuid-name":      ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{}, "1bad"),
		"bad select column":  ovsdb.Select(nb.LogicalSwitchTable, nil, "nope"),
		"channel for string": ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"name": make(chan int)}, ""),
	} {
		if _, err := c.Transact(ctx, NB, op); err == nil {
			t.Errorf("%s: no error", name)
		} else if errors.As(err, &te) {
			t.Errorf("%s: sent to the server: %v", name, err)
		}
	}
	if _, err := c.Transact(ctx, "Nope", ovsdb.Comment("x")); err == nil {
		t.Error("unknown database: no error")
	}
	// The server refusing a whole request is an RPCError.
	if _, err := c.Monitor(ctx, "Nope", map[string][]string{"X": nil}); err == nil {
		t.Error("monitor of an unknown database: no error")
	}
	if _, err := c.Monitor(ctx, NB, map[string][]string{"Nope": nil}); err == nil {
		t.Error("monitor of an unknown table: no error")
	}
	if _, err := c.Monitor(ctx, NB, map[string][]string{nb.LogicalSwitchTable: {"nope"}}); err == nil {
		t.Error("monitor of an unknown column: no error")
	}
	// The connection survives all of that.
	if err := c.Echo(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMonitor(t *testing.T) {
	_, c := startNB(t, ovsdb.Options{})
	ctx := ctxT(t)
	mustTransact(t, c, ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"name": "before"}, ""))

	cache, err := c.Monitor(ctx, NB, map[string][]string{
		nb.LogicalSwitchTable:     nil,
		nb.LogicalSwitchPortTable: {"name", "addresses", "external_ids"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !cache.Synced() || cache.Len(nb.LogicalSwitchTable) != 1 {
		t.Fatalf("initial contents: synced %v, %d switches", cache.Synced(), cache.Len(nb.LogicalSwitchTable))
	}
	drain(cache)

	res := mustTransact(t, c,
		ovsdb.Insert(nb.LogicalSwitchPortTable, ovsdb.Row{"name": "p1", "type": "router", "addresses": []string{"router"}}, "p1"),
		ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"name": "sw0", "ports": []string{"p1"}}, ""))
	if err := c.Echo(ctx); err != nil {
		t.Fatal(err)
	}
	// Echo is a barrier: the cache already reflects the transaction.
	row, ok := cache.Row(nb.LogicalSwitchTable, res[1].UUID)
	if !ok {
		t.Fatal("insert not in the cache after Echo")
	}
	var sw nb.LogicalSwitch
	if err := ovsdb.Unmarshal(row, &sw); err != nil {
		t.Fatal(err)
	}
	if sw.Name != "sw0" || len(sw.Ports) != 1 || sw.Ports[0] != string(res[0].UUID) {
		t.Fatalf("cached %+v", sw)
	}
	prow, _ := cache.Row(nb.LogicalSwitchPortTable, res[0].UUID)
	if _, has := prow["type"]; has || prow["name"] != "p1" {
		t.Fatalf("column selection not honoured: %#v", prow)
	}
	select {
	case <-cache.Changed():
	default:
		t.Fatal("no change signalled")
	}

	// A snapshot does not move when the cache does.
	snap := cache.Snapshot()
	mustTransact(t, c, ovsdb.Mutate(nb.LogicalSwitchTable, []ovsdb.Condition{ovsdb.Equal("name", "sw0")},
		ovsdb.InsertInto("external_ids", map[string]string{"neutron:network_name": "n"})),
		ovsdb.Update(nb.LogicalSwitchPortTable, []ovsdb.Condition{ovsdb.Equal("name", "p1")}, ovsdb.Row{"addresses": []string{"unknown"}}))
	if err := c.Echo(ctx); err != nil {
		t.Fatal(err)
	}
	if len(snap[nb.LogicalSwitchTable][res[1].UUID]["external_ids"].(ovsdb.Map)) != 0 {
		t.Fatal("snapshot changed under the reader")
	}
	row, _ = cache.Row(nb.LogicalSwitchTable, res[1].UUID)
	if row["external_ids"].(ovsdb.Map)["neutron:network_name"] != "n" || row["name"] != "sw0" {
		t.Fatalf("modify: %#v", row)
	}
	prow, _ = cache.Row(nb.LogicalSwitchPortTable, res[0].UUID)
	if fmt.Sprint(prow["addresses"]) != "[unknown]" || prow["name"] != "p1" {
		t.Fatalf("modify of one column: %#v", prow)
	}

	mustTransact(t, c, ovsdb.Delete(nb.LogicalSwitchTable, ovsdb.Equal("name", "sw0")))
	if err := c.Echo(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := cache.Row(nb.LogicalSwitchTable, res[1].UUID); ok || cache.Len(nb.LogicalSwitchPortTable) != 0 {
		t.Fatal("delete not applied (switch, or its garbage-collected port)")
	}
	if got := cache.Snapshot(nb.LogicalSwitchTable, "Unmonitored"); len(got) != 1 || len(got[nb.LogicalSwitchTable]) != 1 {
		t.Fatalf("snapshot of named tables: %v", got)
	}
}

func drain(c *ovsdb.Cache) {
	for {
		select {
		case <-c.Changed():
		default:
			return
		}
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReconnectResyncsMonitors(t *testing.T) {
	db, c := startNB(t, ovsdb.Options{})
	ctx := ctxT(t)
	var connects atomic.Int32
	c.OnConnect(func() { connects.Add(1) })
	waitFor(t, time.Second, "the first OnConnect", func() bool { return connects.Load() == 1 })

	cache, err := c.Monitor(ctx, NB, map[string][]string{nb.LogicalSwitchTable: {"name"}})
	if err != nil {
		t.Fatal(err)
	}
	mustTransact(t, c, ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"name": "a"}, ""))
	c.Echo(ctx)
	if cache.Len(nb.LogicalSwitchTable) != 1 {
		t.Fatal("insert not seen")
	}

	db.Kill()
	waitFor(t, 5*time.Second, "disconnection", func() bool { return !c.Connected() })
	if cache.Synced() {
		t.Fatal("cache still synced while disconnected")
	}
	if cache.Len(nb.LogicalSwitchTable) != 1 {
		t.Fatal("cache dropped its last contents while disconnected")
	}
	if _, err := c.Transact(ctx, NB, ovsdb.Comment("x")); !errors.Is(err, ovsdb.ErrNotConnected) {
		t.Fatalf("transact while down: %v", err)
	}
	if err := c.Echo(ctx); !errors.Is(err, ovsdb.ErrNotConnected) {
		t.Fatalf("echo while down: %v", err)
	}
	// A monitor asked for while down starts unsynced and fills on connect.
	late, err := c.Monitor(ctx, NB, map[string][]string{nb.LogicalSwitchTable: nil})
	if err != nil || late.Synced() {
		t.Fatalf("monitor while down: %v, synced %v", err, late.Synced())
	}

	// The server comes back with different contents: the cache follows.
	db.Wipe(t)
	waitFor(t, 5*time.Second, "reconnection", c.Connected)
	if !cache.Synced() || cache.Len(nb.LogicalSwitchTable) != 0 || !late.Synced() {
		t.Fatalf("after wipe: synced %v, %d rows", cache.Synced(), cache.Len(nb.LogicalSwitchTable))
	}
	waitFor(t, time.Second, "OnConnect after reconnection", func() bool { return connects.Load() == 2 })

	// Monitoring continues on the new connection.
	mustTransact(t, c, ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"name": "b"}, ""))
	c.Echo(ctx)
	if cache.Len(nb.LogicalSwitchTable) != 1 || late.Len(nb.LogicalSwitchTable) != 1 {
		t.Fatal("updates not applied after reconnection")
	}

	// A clean restart keeps the rows and the client reconnects again.
	db.Restart(t)
	waitFor(t, 5*time.Second, "reconnection after restart", func() bool { return c.Connected() && connects.Load() == 3 })
	if cache.Len(nb.LogicalSwitchTable) != 1 {
		t.Fatal("rows lost across a restart")
	}
}

func TestInactivityProbe(t *testing.T) {
	db, c := startNB(t, ovsdb.Options{InactivityProbe: 200 * time.Millisecond})
	ctx := ctxT(t)
	// An idle but healthy connection stays up: the server answers echoes.
	time.Sleep(700 * time.Millisecond)
	if !c.Connected() {
		t.Fatal("idle healthy connection dropped")
	}
	db.Pause()
	start := time.Now()
	waitFor(t, 3*time.Second, "the probe to drop a hung server", func() bool { return !c.Connected() })
	t.Logf("hung server detected after %v", time.Since(start).Round(time.Millisecond))
	db.Resume()
	waitFor(t, 5*time.Second, "reconnection after resume", c.Connected)
	if err := c.Echo(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentTransactions(t *testing.T) {
	_, c := startNB(t, ovsdb.Options{})
	ctx := ctxT(t)
	cache, err := c.Monitor(ctx, NB, map[string][]string{nb.LogicalSwitchTable: {"name", "external_ids"}})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				name := fmt.Sprintf("w%d-%d", w, i)
				res, err := c.Transact(ctx, NB, ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"name": name}, ""))
				if err != nil {
					errs <- err
					continue
				}
				_, err = c.Transact(ctx, NB, ovsdb.Mutate(nb.LogicalSwitchTable, []ovsdb.Condition{ovsdb.ByUUID(res[0].UUID)},
					ovsdb.InsertInto("external_ids", map[string]string{"worker": fmt.Sprint(w)})))
				if err != nil {
					errs <- err
				}
				_ = cache.Snapshot() // readers alongside the updates
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c.Echo(ctx)
	snap := cache.Snapshot()
	if n := len(snap[nb.LogicalSwitchTable]); n != workers*each {
		t.Fatalf("%d switches in the cache, want %d", n, workers*each)
	}
	for _, row := range snap[nb.LogicalSwitchTable] {
		if !strings.HasPrefix(row["name"].(string), "w"+row["external_ids"].(ovsdb.Map)["worker"].(string)+"-") {
			t.Fatalf("row %v", row)
		}
	}
}

func TestTypedRoundTrip(t *testing.T) {
	_, c := startNB(t, ovsdb.Options{})
	ctx := ctxT(t)
	cache, err := c.Monitor(ctx, NB, map[string][]string{nb.LogicalSwitchPortTable: nil, nb.DHCPOptionsTable: nil})
	if err != nil {
		t.Fatal(err)
	}
	dhcp := nb.DHCPOptions{CIDR: "10.0.0.0/24", Options: map[string]string{"router": "10.0.0.1", "lease_time": "43200"}}
	drow, err := ovsdb.Marshal(&dhcp)
	if err != nil {
		t.Fatal(err)
	}
	tag, enabled, dhcpRef := 42, true, "dhcp"
	in := nb.LogicalSwitchPort{
		Name: "p1", Type: "", Tag: &tag, Enabled: &enabled, DHCPv4Options: &dhcpRef,
		Addresses: []string{"fa:16:3e:00:00:01 10.0.0.5"}, PortSecurity: []string{"fa:16:3e:00:00:01 10.0.0.5"},
		ExternalIDs: map[string]string{"neutron:port_name": "vm"},
	}
	row, err := ovsdb.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	delete(row, "tag") // tag is set by ovn-northd from tag_request
	res := mustTransact(t, c,
		ovsdb.Insert(nb.DHCPOptionsTable, drow, "dhcp"),
		ovsdb.Insert(nb.LogicalSwitchPortTable, row, "p1"),
		// A port not referenced by a switch is garbage collected.
		ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{"name": "sw", "ports": ovsdb.Set{ovsdb.NamedUUID("p1")}}, ""))
	c.Echo(ctx)
	got, ok := cache.Row(nb.LogicalSwitchPortTable, res[1].UUID)
	if !ok {
		t.Fatal("port not cached")
	}
	var out nb.LogicalSwitchPort
	if err := ovsdb.Unmarshal(got, &out); err != nil {
		t.Fatal(err)
	}
	if out.UUID != string(res[1].UUID) || out.Name != "p1" || out.Tag != nil || out.Enabled == nil || !*out.Enabled ||
		out.DHCPv4Options == nil || *out.DHCPv4Options != string(res[0].UUID) || out.DHCPv6Options != nil ||
		fmt.Sprint(out.Addresses) != fmt.Sprint(in.Addresses) || out.ExternalIDs["neutron:port_name"] != "vm" {
		t.Fatalf("round trip: %+v", out)
	}
	partial, err := ovsdb.Marshal(&out, "name", "addresses")
	if err != nil || len(partial) != 2 {
		t.Fatalf("partial marshal: %v %v", partial, err)
	}
	if _, err := ovsdb.Marshal(&out, "nope"); err == nil {
		t.Fatal("marshal of an unknown column: no error")
	}
}

func TestClose(t *testing.T) {
	_, c := startNB(t, ovsdb.Options{})
	c.Close()
	if _, err := c.Transact(context.Background(), NB, ovsdb.Comment("x")); !errors.Is(err, ovsdb.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if c.Connected() {
		t.Fatal("connected after close")
	}
	c.Close()
}

// BenchmarkTransact measures NB transactions per second: one insert of a
// Logical_Switch per transaction, sequentially and from 8 goroutines, with
// a monitor of the table running (as spinel runs it). The baseline is an
// echo round trip on the same connection.
func BenchmarkTransact(b *testing.B) {
	_, c := startNB(b, ovsdb.Options{})
	ctx := context.Background()
	if _, err := c.Monitor(ctx, NB, map[string][]string{nb.LogicalSwitchTable: nil}); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	insert := func() error {
		_, err := c.Transact(ctx, NB, ovsdb.Insert(nb.LogicalSwitchTable, ovsdb.Row{
			"name": fmt.Sprintf("bench-%d", n.Add(1)), "external_ids": map[string]string{"spinel:owner": "bench"},
		}, ""))
		return err
	}
	b.Run("echo-baseline", func(b *testing.B) {
		for b.Loop() {
			if err := c.Echo(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rpc/s")
	})
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			if err := insert(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "txn/s")
	})
	b.Run("parallel-8", func(b *testing.B) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(b.N) {
					if err := insert(); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "txn/s")
	})
}
