package ovn

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/l3"
	l3ovn "github.com/spinel-net/spinel/internal/l3/ovn"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/ovntest"
	"github.com/spinel-net/spinel/internal/ovsdb"
)

// l3benchRouters is the benchmark's router count.
const l3benchRouters = 1000

// countStatus counts the routers with status st (one list request).
func (e *l3env) countStatus(st string) int {
	body := e.a.must(200, "GET", "/v2.0/routers?fields=id&fields=status&status="+st, nil, "")
	rs, _ := body["routers"].([]any)
	return len(rs)
}

func l3wait(tb testing.TB, d time.Duration, what string, f func() bool) time.Duration {
	start := time.Now()
	for !f() {
		if time.Since(start) > d {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// BenchmarkSync1000Routers measures syncing 1,000 ovn routers, each with
// a gateway (two gateway chassis), an interface and a floating IP, into
// NB (8 rows per router):
//
//   - api: creating them through the API (8 clients) until every row is in
//     NB and every router ACTIVE (wall time from the first request);
//   - wipe: NB replaced by an empty database: until every row is back;
//   - outage: NB stopped until every router is ERROR, then started empty:
//     until every row is back and every router ACTIVE;
//   - baseline: the same rows written by the driver alone (Sync called
//     directly by 4 goroutines, no API, etcd or reconciler) into a fresh
//     NB, in the same run: the floor the others are compared with.
//
// go test -run '^$' -bench Sync1000 -benchtime 1x ./test/ovn
func BenchmarkSync1000Routers(b *testing.B) {
	for range b.N {
		base := l3baseline(b, l3benchRouters, 4)

		e := l3start(b)
		ext, _ := e.network("ext", "flat", "100.64.0.0/16", true)
		watch := e.l3watch(b)
		want := l3rows(l3benchRouters)

		start := time.Now()
		e.l3fill(b, l3id(ext), l3benchRouters, 8)
		apiDone := time.Since(start)
		l3wait(b, 120*time.Second, "all rows in NB", func() bool { return l3complete(watch, want) })
		l3wait(b, 120*time.Second, "all routers ACTIVE", func() bool { return e.countStatus("ACTIVE") == l3benchRouters })
		api := time.Since(start)

		e.o.NB.Wipe(b)
		wipe := l3wait(b, 120*time.Second, "all rows restored after a wipe", func() bool { return l3complete(watch, want) })

		e.o.NB.Stop()
		errorAll := l3wait(b, 120*time.Second, "all routers ERROR", func() bool { return e.countStatus("ERROR") == l3benchRouters })
		e.o.NB.Wipe(b)
		start = time.Now()
		l3wait(b, 120*time.Second, "all rows restored after an outage", func() bool { return l3complete(watch, want) })
		rows := time.Since(start)
		l3wait(b, 120*time.Second, "all routers ACTIVE after an outage", func() bool { return e.countStatus("ACTIVE") == l3benchRouters })
		outage := time.Since(start)

		b.ReportMetric(base.Seconds(), "baseline-s")
		b.ReportMetric(api.Seconds(), "api-s")
		b.ReportMetric(wipe.Seconds(), "wipe-s")
		b.ReportMetric(outage.Seconds(), "outage-s")
		b.ReportMetric(wipe.Seconds()/base.Seconds(), "wipe/baseline")
		b.Logf("%d routers, %d NB rows: baseline (driver alone) %v; through the API %v (requests %v); "+
			"after a wipe %v (%.2fx baseline); NB stopped: all ERROR in %v; back empty: rows %v, all ACTIVE %v (%.2fx baseline)",
			l3benchRouters, 8*l3benchRouters, base.Round(time.Millisecond), api.Round(time.Millisecond), apiDone.Round(time.Millisecond),
			wipe.Round(time.Millisecond), wipe.Seconds()/base.Seconds(), errorAll.Round(time.Millisecond),
			rows.Round(time.Millisecond), outage.Round(time.Millisecond), outage.Seconds()/base.Seconds())
	}
}

// l3baseline syncs n routers shaped like l3fill's with the driver alone
// into a fresh NB, with workers goroutines, and returns the wall time.
func l3baseline(tb testing.TB, n, workers int) time.Duration {
	dir := ovntest.TempDir(tb)
	db := ovntest.StartDB(tb, dir, ovntest.NBSchema)
	c, err := ovsdb.Dial(db.Endpoint(), ovsdb.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		tb.Fatal(err)
	}
	d, err := l3ovn.New(ctx, c, l3ovn.Options{GatewayChassis: []l3ovn.GatewayChassis{{Name: "gw1", Priority: 2}, {Name: "gw2", Priority: 1}}})
	if err != nil {
		tb.Fatal(err)
	}
	routers := make([]*l3.Router, n)
	for i := range routers {
		routers[i] = l3benchRouter(i)
	}
	next := make(chan *l3.Router)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range next {
				if _, err := d.Sync(ctx, r); err != nil {
					tb.Error(err)
				}
			}
		}()
	}
	for _, r := range routers {
		next <- r
	}
	close(next)
	wg.Wait()
	return time.Since(start)
}

// l3benchRouter is router i as l3fill makes it, built by hand.
func l3benchRouter(i int) *l3.Router {
	s := func(v string) *string { return &v }
	id := func(kind string) string { return fmt.Sprintf("%s-%08d-0000-4000-8000-000000000000", kind, i) }
	ext := model.Subnet{Standard: model.Standard{ID: "ext-subnet"}, NetworkID: "ext", IPVersion: 4, CIDR: "100.64.0.0/16", GatewayIP: s("100.64.0.1")}
	in := model.Subnet{Standard: model.Standard{ID: id("sub")}, NetworkID: id("net"), IPVersion: 4,
		CIDR: fmt.Sprintf("10.%d.%d.0/24", 64+i/256, i%256), GatewayIP: s(fmt.Sprintf("10.%d.%d.1", 64+i/256, i%256))}
	vm := model.Port{Standard: model.Standard{ID: id("vm")}, NetworkID: in.NetworkID, MACAddress: fmt.Sprintf("fa:16:3e:01:%02x:%02x", i/256, i%256),
		FixedIPs: []model.FixedIP{{SubnetID: in.ID, IPAddress: fmt.Sprintf("10.%d.%d.2", 64+i/256, i%256)}}}
	return &l3.Router{
		Router: model.Router{Standard: model.Standard{ID: id("rtr"), Name: fmt.Sprint("r", i)}, AdminStateUp: true, HA: true},
		Gateway: &l3.Gateway{
			Network: model.Network{Standard: model.Standard{ID: "ext"}, NetworkType: "flat"},
			Port: model.Port{Standard: model.Standard{ID: id("gwp")}, NetworkID: "ext", MACAddress: fmt.Sprintf("fa:16:3e:02:%02x:%02x", i/256, i%256),
				FixedIPs: []model.FixedIP{{SubnetID: ext.ID, IPAddress: fmt.Sprintf("100.64.%d.%d", 10+i/250, i%250+2)}}},
			Subnets: []model.Subnet{ext}, EnableSNAT: true,
		},
		Interfaces: []l3.Interface{{
			Port: model.Port{Standard: model.Standard{ID: id("ifp")}, NetworkID: in.NetworkID, MACAddress: fmt.Sprintf("fa:16:3e:03:%02x:%02x", i/256, i%256),
				FixedIPs: []model.FixedIP{{SubnetID: in.ID, IPAddress: *in.GatewayIP}}},
			Network: model.Network{Standard: model.Standard{ID: in.NetworkID}, NetworkType: "geneve"}, Subnets: []model.Subnet{in},
		}},
		FloatingIPs: []l3.FloatingIP{{FloatingIP: model.FloatingIP{Standard: model.Standard{ID: id("fip")}, FloatingNetworkID: "ext",
			FloatingIPAddress: fmt.Sprintf("100.64.%d.%d", 20+i/250, i%250+2), FixedIPAddress: &vm.FixedIPs[0].IPAddress}, Port: &vm}},
	}
}
