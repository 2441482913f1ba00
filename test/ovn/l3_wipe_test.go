package ovn

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/ovsdb"
)

// l3topo is what l3fill creates per router.
type l3topo struct {
	router, network, subnet, port, fip string
}

// l3fill creates n ovn routers, each with a gateway on extNet, an
// interface on its own geneve network and a floating IP for a port
// there, using workers parallel clients.
func (e *l3env) l3fill(tb testing.TB, extNet string, n, workers int) []l3topo {
	out := make([]l3topo, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				net, sub := e.network(fmt.Sprint("n", i), "geneve", fmt.Sprintf("10.%d.%d.0/24", 64+i/256, i%256), false)
				r := e.router(fmt.Sprint("r", i), e.ovnFlavor, extNet)
				e.addInterface(l3id(r), l3id(sub))
				p := e.a.create("port", map[string]any{"network_id": l3id(net)})
				f := e.a.create("floatingip", map[string]any{"floating_network_id": extNet, "port_id": l3id(p)})
				out[i] = l3topo{l3id(r), l3id(net), l3id(sub), l3id(p), l3id(f)}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// l3watch monitors NB's router tables, to count rows without spawning
// ovn-nbctl.
func (e *l3env) l3watch(tb testing.TB) *ovsdb.Cache {
	c, err := ovsdb.Dial(e.o.NB.Endpoint(), ovsdb.Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		tb.Fatal(err)
	}
	cache, err := c.Monitor(ctx, "OVN_Northbound", map[string][]string{
		"Logical_Router": {"name"}, "Logical_Router_Port": {"name"}, "NAT": {"type"},
		"Logical_Router_Static_Route": {"ip_prefix"}, "Gateway_Chassis": {"name"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return cache
}

// l3rows counts the router rows n routers made by l3fill must have: per
// router one Logical_Router, two ports (interface, gateway), two NAT rows
// (SNAT, floating IP), one default route and two gateway chassis.
func l3rows(n int) map[string]int {
	return map[string]int{"Logical_Router": n, "Logical_Router_Port": 2 * n, "NAT": 2 * n,
		"Logical_Router_Static_Route": n, "Gateway_Chassis": 2 * n}
}

func l3complete(c *ovsdb.Cache, want map[string]int) bool {
	if !c.Synced() {
		return false
	}
	for t, n := range want {
		if c.Len(t) != n {
			return false
		}
	}
	return true
}

// TestWipeRestores: NB wiped (stopped, its file replaced by an empty
// database, restarted) gets every router row back, without any API
// change; the time is measured.
func TestWipeRestores(t *testing.T) {
	e := l3start(t)
	defer l3logs(t, e.o)
	ext, _ := e.network("ext", "flat", "203.0.0.0/16", true)
	const n = 20
	topo := e.l3fill(t, l3id(ext), n, 4)
	watch := e.l3watch(t)
	want := l3rows(n)
	l3eventually(t, 20*time.Second, "all rows in NB", func() bool { return l3complete(watch, want) })
	before := e.nbctl("--bare", "--columns=name,networks,mac", "list", "Logical_Router_Port")

	e.o.NB.Wipe(t)
	start := time.Now()
	l3eventually(t, 20*time.Second, "all rows restored", func() bool { return l3complete(watch, want) })
	t.Logf("%d routers (%d rows) restored %v after NB came back empty", n, 8*n, time.Since(start).Round(time.Millisecond))
	if after := e.nbctl("--bare", "--columns=name,networks,mac", "list", "Logical_Router_Port"); fmt.Sprint(l3lines(after)) != fmt.Sprint(l3lines(before)) {
		t.Errorf("router ports differ after the restore:\nbefore %q\nafter  %q", l3lines(before), l3lines(after))
	}
	for _, x := range topo[:3] {
		if got := e.nat(x.router); len(got) != 2 {
			t.Errorf("router %s NAT after restore: %q", x.router, got)
		}
		if s := e.a.status("router", x.router); s != "ACTIVE" {
			t.Errorf("router %s %s after restore", x.router, s)
		}
	}
}
