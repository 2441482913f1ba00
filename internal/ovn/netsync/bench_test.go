package netsync

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/ovntest"
	"github.com/spinel-net/spinel/internal/ovsdb"
)

// benchInput is nets geneve networks with a DHCP subnet and ports ports
// each, all in one security group with two rules.
func benchInput(nets, ports int) Input {
	in := Input{
		SecurityGroups: []*model.SecurityGroup{{Standard: model.Standard{ID: "sg"}, Stateful: true}},
		Rules: []*model.SecurityGroupRule{
			{ID: "r1", SecurityGroupID: "sg", Direction: "ingress", Ethertype: "IPv4", Protocol: sp("tcp"), PortRangeMin: ip(22), PortRangeMax: ip(22)},
			{ID: "r2", SecurityGroupID: "sg", Direction: "egress", Ethertype: "IPv4"},
		},
	}
	for i := range nets {
		nid := fmt.Sprintf("net-%d", i)
		in.Networks = append(in.Networks, &model.Network{Standard: model.Standard{ID: nid, Name: nid}, NetworkType: "geneve", MTU: 1442})
		sid := fmt.Sprintf("sub-%d", i)
		in.Subnets = append(in.Subnets, &model.Subnet{Standard: model.Standard{ID: sid}, NetworkID: nid, IPVersion: 4,
			CIDR: fmt.Sprintf("10.%d.%d.0/24", i/256, i%256), GatewayIP: sp(fmt.Sprintf("10.%d.%d.1", i/256, i%256)), EnableDHCP: true})
		for j := range ports {
			in.Ports = append(in.Ports, &model.Port{Standard: model.Standard{ID: fmt.Sprintf("port-%d-%d", i, j)}, NetworkID: nid,
				MACAddress: fmt.Sprintf("fa:16:3e:00:%02x:%02x", i%256, j), AdminStateUp: true, PortSecurityEnabled: true,
				FixedIPs:       []model.FixedIP{{SubnetID: sid, IPAddress: fmt.Sprintf("10.%d.%d.%d", i/256, i%256, j+10)}},
				SecurityGroups: []string{"sg"}, DeviceOwner: "compute:nova"})
		}
	}
	return in
}

// BenchmarkSync1000Ports: one pass writing 1,000 VM ports (100 networks
// with DHCP, one security group) into an empty NB; the baseline, measured
// in the same run, is a pass over the same state with nothing to write
// (compute and compare only). The database is alone (no ovn-northd
// competing for the two cores), to measure netsync and ovsdb-server.
func BenchmarkSync1000Ports(b *testing.B) {
	db := ovntest.StartDB(b, ovntest.TempDir(b), ovntest.NBSchema)
	c, err := ovsdb.Dial(db.Endpoint(), ovsdb.Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	src := &StaticSource{}
	src.Set(benchInput(100, 10))
	s := New(c, src, Config{Log: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	if _, err := s.replica(ctx); err != nil {
		b.Fatal(err)
	}
	var fresh, noop time.Duration
	var ops int
	for range b.N {
		b.StopTimer()
		db.Wipe(b)
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		// Until the replica shows the empty database.
		for wctx.Err() == nil && !(s.cache != nil && s.cache.Synced() && s.cache.Len("Logical_Switch") == 0) {
			time.Sleep(time.Millisecond)
		}
		cancel()
		b.StartTimer()
		t0 := time.Now()
		st, err := s.SyncOnce(ctx)
		if err != nil {
			b.Fatal(err)
		}
		fresh += time.Since(t0)
		ops = st.Ops
		t0 = time.Now()
		if st, err := s.SyncOnce(ctx); err != nil || st.Ops != 0 {
			b.Fatalf("second pass: %d ops, %v", st.Ops, err)
		}
		noop += time.Since(t0)
	}
	b.ReportMetric(float64(fresh.Milliseconds())/float64(b.N), "fresh-ms")
	b.ReportMetric(float64(noop.Milliseconds())/float64(b.N), "noop-ms")
	b.ReportMetric(float64(ops), "ops")
	b.ReportMetric(float64(fresh)/float64(noop), "x-noop")
}
