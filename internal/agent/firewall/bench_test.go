package firewall

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/nftables"
	"github.com/spinel-net/spinel/internal/agentapi"
)

// scaleInput is nPorts ports in nGroups groups (two groups a port), each
// group with seven rules, one of them naming the next group as its remote
// group, and members holding its ports' addresses.
func scaleInput(nPorts, nGroups int) ([]agentapi.Port, []agentapi.SecurityGroup) {
	groups := make([]agentapi.SecurityGroup, nGroups)
	for g := range groups {
		id := fmt.Sprintf("group-%02d-0000-0000-0000-000000000000", g)
		next := fmt.Sprintf("group-%02d-0000-0000-0000-000000000000", (g+1)%nGroups)
		groups[g] = agentapi.SecurityGroup{ID: id, Stateful: true, Rules: []agentapi.Rule{
			anyRule(id+"-e4", "egress", "IPv4"),
			anyRule(id+"-e6", "egress", "IPv6"),
			{ID: id + "-ssh", Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("tcp"), PortRangeMin: ptr(22), PortRangeMax: ptr(22), RemoteIPPrefix: ptr("192.0.2.0/24")},
			{ID: id + "-web", Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("tcp"), PortRangeMin: ptr(80), PortRangeMax: ptr(443), RemoteGroupID: ptr(next)},
			{ID: id + "-web6", Direction: "ingress", Ethertype: "IPv6", Protocol: ptr("tcp"), PortRangeMin: ptr(80), PortRangeMax: ptr(443), RemoteGroupID: ptr(next)},
			{ID: id + "-icmp", Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("icmp"), PortRangeMin: ptr(8)},
			{ID: id + "-dns", Direction: "ingress", Ethertype: "IPv4", Protocol: ptr("udp"), PortRangeMin: ptr(53), PortRangeMax: ptr(53), RemoteIPPrefix: ptr("10.0.0.0/8")},
		}}
	}
	ports := make([]agentapi.Port, nPorts)
	for i := range ports {
		ip4 := fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256+1)
		ip6 := fmt.Sprintf("fd00::%x", i+1)
		g1, g2 := i%nGroups, (i+7)%nGroups
		ports[i] = agentapi.Port{
			ID:                  fmt.Sprintf("port-%04d", i),
			Tap:                 fmt.Sprintf("tapb%04d", i),
			MAC:                 fmt.Sprintf("02:00:00:00:%02x:%02x", i/256, i%256),
			PortSecurityEnabled: true,
			FixedIPs:            []agentapi.FixedIP{{IPAddress: ip4}, {IPAddress: ip6}},
			SecurityGroups:      []string{groups[g1].ID, groups[g2].ID},
		}
		if i%10 == 0 {
			ports[i].AllowedAddressPairs = []agentapi.AddressPair{{IPAddress: fmt.Sprintf("172.16.%d.0/24", i%256)}}
		}
		for _, g := range []int{g1, g2} {
			groups[g].Members = append(groups[g].Members, ip4, ip6)
		}
	}
	return ports, groups
}

// benchLab is a bare hypervisor namespace (no taps are needed: the rules
// match interface names).
func benchLab(b *testing.B) (*lab, *Firewall) {
	l := newLab(b)
	return l, l.firewall()
}

// BenchmarkApplyAddRule: 100 ports, 20 groups; each iteration adds (or
// takes away again) one ingress rule of one group.
func BenchmarkApplyAddRule(b *testing.B) {
	for _, n := range []struct{ ports, groups int }{{100, 20}, {500, 50}} {
		b.Run(fmt.Sprintf("ports=%d/groups=%d", n.ports, n.groups), func(b *testing.B) {
			_, f := benchLab(b)
			ports, groups := scaleInput(n.ports, n.groups)
			mustApply(b, f, ports, groups)
			extra := slices.Clone(groups)
			extra[0].Rules = append(slices.Clone(groups[0].Rules), agentapi.Rule{ID: "extra", Direction: "ingress",
				Ethertype: "IPv4", Protocol: ptr("tcp"), PortRangeMin: ptr(8080), PortRangeMax: ptr(8080)})
			msgs := 0
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				gs := groups
				if i%2 == 0 {
					gs = extra
				}
				msgs += mustApply(b, f, ports, gs).Messages
			}
			b.ReportMetric(float64(msgs)/float64(b.N), "msgs/op")
		})
	}
}

// BenchmarkApplyScenarios measures the other cases at 100 ports and 20
// groups: a first Apply on an empty namespace, an Apply with nothing to
// do, a member joining a remote group, a port going (or coming back), and
// a restart (read back + compare).
func BenchmarkApplyScenarios(b *testing.B) {
	ports, groups := scaleInput(100, 20)
	b.Run("initial", func(b *testing.B) {
		l, _ := benchLab(b)
		msgs := 0
		for b.Loop() {
			b.StopTimer()
			f := l.firewall()
			deleteTables(b, l)
			b.StartTimer()
			msgs += mustApply(b, f, ports, groups).Messages
			f.Close()
		}
		b.ReportMetric(float64(msgs)/float64(b.N), "msgs/op")
	})
	b.Run("noop", func(b *testing.B) {
		_, f := benchLab(b)
		mustApply(b, f, ports, groups)
		for b.Loop() {
			mustApply(b, f, ports, groups)
		}
	})
	b.Run("member", func(b *testing.B) {
		_, f := benchLab(b)
		mustApply(b, f, ports, groups)
		joined := slices.Clone(groups)
		joined[3].Members = append(slices.Clone(groups[3].Members), "198.51.100.7")
		msgs := 0
		for i := 0; b.Loop(); i++ {
			gs := groups
			if i%2 == 0 {
				gs = joined
			}
			msgs += mustApply(b, f, ports, gs).Messages
		}
		b.ReportMetric(float64(msgs)/float64(b.N), "msgs/op")
	})
	b.Run("port", func(b *testing.B) {
		_, f := benchLab(b)
		mustApply(b, f, ports, groups)
		fewer := ports[:len(ports)-1]
		msgs := 0
		for i := 0; b.Loop(); i++ {
			ps := ports
			if i%2 == 0 {
				ps = fewer
			}
			msgs += mustApply(b, f, ps, groups).Messages
		}
		b.ReportMetric(float64(msgs)/float64(b.N), "msgs/op")
	})
	b.Run("restart", func(b *testing.B) {
		l, f := benchLab(b)
		mustApply(b, f, ports, groups)
		for b.Loop() {
			b.StopTimer()
			f := l.firewall()
			b.StartTimer()
			if st := mustApply(b, f, ports, groups); st.Messages != 0 {
				b.Fatalf("restart sent %d messages", st.Messages)
			}
			f.Close()
		}
	})
}

func deleteTables(b *testing.B, l *lab) {
	err := inNS(l.hvNS, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		for _, fam := range []nftables.TableFamily{inet, arp} {
			ts, err := c.ListTablesOfFamily(fam)
			if err != nil {
				return err
			}
			for _, t := range ts {
				if t.Name == TableName {
					c.DelTable(tableObj(fam))
				}
			}
		}
		return c.Flush()
	})
	if err != nil {
		b.Fatal(err)
	}
}
