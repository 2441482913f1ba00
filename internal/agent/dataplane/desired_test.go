package dataplane

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/spinel-net/spinel/internal/agentapi"
)

// TestDesire checks the pure part of Apply: which routes, neighbours and
// gateways a set of ports wants, and how conflicts are settled. It needs
// no privileges.
func TestDesire(t *testing.T) {
	sub := agentapi.Subnet{ID: "s4", CIDR: "10.0.0.0/24", IPVersion: 4, GatewayIP: "10.0.0.1"}
	sub6 := agentapi.Subnet{ID: "s6", CIDR: "fd00::/64", IPVersion: 6, GatewayIP: "fd00::1"}
	port := func(id, ip string, up bool, pairs ...string) agentapi.Port {
		p := agentapi.Port{
			ID: id, Tap: "tap" + id, MAC: "fa:16:3e:00:00:01", AdminStateUp: up,
			FixedIPs: []agentapi.FixedIP{{SubnetID: "s4", IPAddress: ip}},
			Subnets:  []agentapi.Subnet{sub},
		}
		for _, pr := range pairs {
			p.AllowedAddressPairs = append(p.AllowedAddressPairs, agentapi.AddressPair{IPAddress: pr})
		}
		return p
	}
	tests := []struct {
		name      string
		ports     []agentapi.Port
		routes    map[string]string // dst -> owner port id
		neighs    int
		gateways  map[string][]string
		failed    []string
		noLinkFor string
	}{
		{
			name:     "one port",
			ports:    []agentapi.Port{port("a", "10.0.0.10", true)},
			routes:   map[string]string{"10.0.0.10/32": "a"},
			neighs:   1,
			gateways: map[string][]string{"10.0.0.1": {"a"}},
		},
		{
			name: "dual stack with pairs",
			ports: []agentapi.Port{func() agentapi.Port {
				p := port("a", "10.0.0.10", true, "10.0.5.0/24", "10.0.6.7", "fd00:5::/64", "0.0.0.0/0", "::/0", "10.0.7.9/24")
				p.FixedIPs = append(p.FixedIPs, agentapi.FixedIP{SubnetID: "s6", IPAddress: "fd00::10"})
				p.Subnets = append(p.Subnets, sub6)
				return p
			}()},
			routes: map[string]string{
				"10.0.0.10/32": "a", "fd00::10/128": "a", "10.0.5.0/24": "a", "10.0.6.7/32": "a",
				"fd00:5::/64": "a", "10.0.7.0/24": "a",
			},
			neighs:   2,
			gateways: map[string][]string{"10.0.0.1": {"a"}, "fd00::1": {"a"}},
		},
		{
			name: "fixed IP beats another port's pair, lowest id wins pairs",
			ports: []agentapi.Port{
				port("c", "10.0.0.12", true, "10.0.0.50"),
				port("b", "10.0.0.11", true, "10.0.0.12", "10.0.0.50"),
			},
			routes:   map[string]string{"10.0.0.11/32": "b", "10.0.0.12/32": "c", "10.0.0.50/32": "b"},
			neighs:   2,
			gateways: map[string][]string{"10.0.0.1": {"b", "c"}},
		},
		{
			name:     "duplicate fixed IP fails the second port",
			ports:    []agentapi.Port{port("b", "10.0.0.11", true), port("a", "10.0.0.11", true)},
			routes:   map[string]string{"10.0.0.11/32": "a"},
			neighs:   1,
			gateways: map[string][]string{"10.0.0.1": {"a", "b"}},
			failed:   []string{"b"},
		},
		{
			name:     "admin down and pending ports want nothing",
			ports:    []agentapi.Port{port("a", "10.0.0.10", false), port("b", "10.0.0.11", true)},
			routes:   map[string]string{},
			gateways: map[string][]string{},
			// b has no tap
			noLinkFor: "b",
		},
		{
			name:     "bad address fails its port only",
			ports:    []agentapi.Port{port("a", "10.0.0.x", true, "10.0.9.0/33"), port("b", "10.0.0.11", true)},
			routes:   map[string]string{"10.0.0.11/32": "b"},
			neighs:   1,
			gateways: map[string][]string{"10.0.0.1": {"a", "b"}},
			failed:   []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApplier(&Dataplane{}, tt.ports)
			for i, ps := range a.ports {
				if ps.port.ID == tt.noLinkFor {
					continue
				}
				ps.link = &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: ps.tap, Index: 10 + i}}
			}
			a.desire()
			got := map[string]string{}
			for dst, w := range a.routes {
				got[dst.String()] = w.owner.port.ID
				if w.link != w.owner.link.Attrs().Index {
					t.Errorf("route %s via ifindex %d, want the owner's %d", dst, w.link, w.owner.link.Attrs().Index)
				}
			}
			if !mapsEqual(got, tt.routes) {
				t.Errorf("routes = %v, want %v", got, tt.routes)
			}
			if len(a.neighs) != tt.neighs {
				t.Errorf("%d neighbours, want %d", len(a.neighs), tt.neighs)
			}
			gws := map[string][]string{}
			for gw, owners := range a.gateways {
				for _, o := range owners {
					gws[gw.String()] = append(gws[gw.String()], o.port.ID)
				}
			}
			if len(gws) != len(tt.gateways) {
				t.Errorf("gateways = %v, want %v", gws, tt.gateways)
			}
			for gw, ids := range tt.gateways {
				if !slices.Equal(gws[gw], ids) {
					t.Errorf("gateway %s owners = %v, want %v", gw, gws[gw], ids)
				}
			}
			var failed []string
			for _, ps := range a.ports {
				if len(ps.errs) > 0 {
					failed = append(failed, ps.port.ID)
				}
			}
			if !slices.Equal(failed, tt.failed) {
				t.Errorf("failed ports = %v, want %v", failed, tt.failed)
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.5":            "10.0.0.5/32",
		"10.0.0.5/24":         "10.0.0.0/24",
		"fd00::5":             "fd00::5/128",
		"fd00::5/64":          "fd00::/64",
		"::ffff:10.0.0.5":     "10.0.0.5/32",
		"::ffff:10.0.0.5/120": "10.0.0.0/24",
	} {
		got, err := parsePrefix(in)
		if err != nil || got != netip.MustParsePrefix(want) {
			t.Errorf("parsePrefix(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "10.0.0", "10.0.0.0/33", "fd00::/129"} {
		if _, err := parsePrefix(bad); err == nil {
			t.Errorf("parsePrefix(%q) succeeded", bad)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
