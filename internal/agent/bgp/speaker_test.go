package bgp

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

func TestConfigDefaultsAndValidate(t *testing.T) {
	up := []Uplink{{Interface: "up1", PeerAddress: netip.MustParseAddr("10.255.1.0"), PeerASN: 65101}}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{ASN: 65000, RouterID: netip.MustParseAddr("10.253.1.1"), Uplinks: up}, true},
		{"no asn", Config{RouterID: netip.MustParseAddr("10.253.1.1"), Uplinks: up}, false},
		{"v6 router id", Config{ASN: 65000, RouterID: netip.MustParseAddr("fd00::1"), Uplinks: up}, false},
		{"no uplinks", Config{ASN: 65000, RouterID: netip.MustParseAddr("10.253.1.1")}, false},
		{"duplicate uplink", Config{ASN: 65000, RouterID: netip.MustParseAddr("10.253.1.1"), Uplinks: append(slices.Clone(up), up...)}, false},
		{"unnumbered", Config{ASN: 65000, RouterID: netip.MustParseAddr("10.253.1.1"), Uplinks: []Uplink{{Interface: "up1", PeerASN: 65101}}}, true},
		{"hold too short", Config{ASN: 65000, RouterID: netip.MustParseAddr("10.253.1.1"), Uplinks: up, Hold: time.Second}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg, nil)
			if (err == nil) != tc.ok {
				t.Fatalf("New: err=%v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				return
			}
			c := s.cfg
			if c.Keepalive != 3*time.Second || c.Hold != 9*time.Second || c.ConnectRetry != 2*time.Second ||
				c.GracefulRestart != 120*time.Second || c.LearnedProtocol != 251 || c.ListenPort != 179 {
				t.Fatalf("defaults not applied: %+v", c)
			}
		})
	}
}

func TestPeerConfig(t *testing.T) {
	s, err := New(Config{ASN: 65000, RouterID: netip.MustParseAddr("10.253.1.1"), Uplinks: []Uplink{
		{Interface: "up1", PeerAddress: netip.MustParseAddr("10.255.1.0"), PeerASN: 65101},
		{Interface: "up2", PeerASN: 65102},
	}, Password: "pw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := s.peerConfig(s.cfg.Uplinks[0], s.cfg.Uplinks[0].PeerAddress, true, false)
	if p.Conf.NeighborAddress != "10.255.1.0" || p.Conf.AuthPassword != "pw" || len(p.AfiSafis) != 1 {
		t.Fatalf("numbered peer: %v", p)
	}
	gr := p.GracefulRestart
	// No N-bit: a hold-timer expiry must withdraw at once (see peerConfig).
	if !gr.Enabled || gr.NotificationEnabled || gr.RestartTime != 120 || !gr.LocalRestarting {
		t.Fatalf("graceful restart: %v", gr)
	}
	if tm := p.Timers.Config; tm.HoldTime != 9 || tm.KeepaliveInterval != 3 || tm.ConnectRetry != 2 {
		t.Fatalf("timers: %v", tm)
	}
	ll := netip.MustParseAddr("fe80::1").WithZone("up2")
	p = s.peerConfig(s.cfg.Uplinks[1], ll, false, true)
	if p.Conf.NeighborAddress != "fe80::1%up2" || len(p.AfiSafis) != 2 || !p.Conf.AdminDown || p.GracefulRestart.LocalRestarting {
		t.Fatalf("unnumbered peer: %v", p)
	}
}

func TestLocalPathAndNexthop(t *testing.T) {
	for _, pfx := range []string{"10.0.0.11/32", "2001:db8::11/128"} {
		p, err := localPath(netip.MustParsePrefix(pfx))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := pathPrefix(p.Nlri)
		if !ok || got.String() != pfx {
			t.Fatalf("prefix %s: got %v", pfx, got)
		}
		if _, ok := pathNexthop(p); !ok {
			t.Fatalf("%s: no next hop attribute", pfx)
		}
	}
	ll := netip.MustParseAddr("fe80::1")
	mp := &bgp.PathAttributeMpReachNLRI{Nexthop: ll}
	if nh, ok := pathNexthop(&apiutil.Path{Attrs: []bgp.PathAttributeInterface{mp}}); !ok || nh != ll {
		t.Fatalf("extended next hop: %v %v", nh, ok)
	}
}

func TestRouteSet(t *testing.T) {
	r := routeSet{}
	p := netip.MustParsePrefix("0.0.0.0/0")
	r.add(p, nexthop{"up2", netip.MustParseAddr("10.255.2.0")})
	r.add(p, nexthop{"up1", netip.MustParseAddr("10.255.1.0")})
	r.add(p, nexthop{"up1", netip.MustParseAddr("10.255.1.0")})
	sortNexthops(r[p])
	if len(r[p]) != 2 || r[p][0].link != "up1" {
		t.Fatalf("routeSet: %v", r[p])
	}
}
