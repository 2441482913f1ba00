package ra

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/agentapi"
)

// parsedRA is a router advertisement decoded by the tests.
type parsedRA struct {
	curHopLimit       uint8
	managed, other    bool
	routerLifetime    uint16
	sllao             net.HardwareAddr
	mtu               uint32
	prefixes          []parsedPrefix
	rdnss             []netip.Addr
	rdnssLifetime     uint32
	src               netip.Addr // set by the sniffer
	hopLimit          int        // set by the sniffer
	unknownOptionType []byte
}

type parsedPrefix struct {
	prefix               netip.Prefix
	onLink, autonomous   bool
	valid, preferred     uint32
	reservedFlagsNonZero bool
}

// parseRA decodes an ICMPv6 router advertisement, failing the test on
// anything malformed.
func parseRA(t *testing.T, b []byte) *parsedRA {
	t.Helper()
	if len(b) < 16 || b[0] != typeRouterAdvertisement || b[1] != 0 {
		t.Fatalf("not a router advertisement: % x", b)
	}
	ra := &parsedRA{curHopLimit: b[4], managed: b[5]&0x80 != 0, other: b[5]&0x40 != 0,
		routerLifetime: binary.BigEndian.Uint16(b[6:])}
	opts := b[16:]
	for len(opts) > 0 {
		if len(opts) < 2 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			t.Fatalf("bad option: % x", opts)
		}
		o := opts[:int(opts[1])*8]
		opts = opts[len(o):]
		switch o[0] {
		case optSourceLinkLayerAddr:
			ra.sllao = net.HardwareAddr(slices.Clone(o[2:8]))
		case optMTU:
			ra.mtu = binary.BigEndian.Uint32(o[4:])
		case optPrefixInformation:
			if len(o) != 32 {
				t.Fatalf("prefix option of %d bytes", len(o))
			}
			a, _ := netip.AddrFromSlice(o[16:32])
			ra.prefixes = append(ra.prefixes, parsedPrefix{
				prefix: netip.PrefixFrom(a, int(o[2])), onLink: o[3]&0x80 != 0, autonomous: o[3]&0x40 != 0,
				valid: binary.BigEndian.Uint32(o[4:]), preferred: binary.BigEndian.Uint32(o[8:]),
				reservedFlagsNonZero: o[3]&0x3f != 0})
		case optRDNSS:
			ra.rdnssLifetime = binary.BigEndian.Uint32(o[4:])
			for r := o[8:]; len(r) >= 16; r = r[16:] {
				a, _ := netip.AddrFromSlice(r[:16])
				ra.rdnss = append(ra.rdnss, a)
			}
		default:
			ra.unknownOptionType = append(ra.unknownOptionType, o[0])
		}
	}
	return ra
}

func subnet6(id, cidr, mode string, dns ...string) agentapi.Subnet {
	return agentapi.Subnet{ID: id, CIDR: cidr, IPVersion: 6, GatewayIP: strings.TrimSuffix(cidr, "/64") + "1",
		EnableDHCP: mode != ModeSLAAC, DNSNameservers: dns, IPv6RAMode: mode, IPv6AddressMode: mode}
}

func TestMarshal(t *testing.T) {
	cfg := Config{}
	cfg.setDefaults()
	mac, _ := net.ParseMAC(agentapi.HostMAC)
	v4 := agentapi.Subnet{ID: "v4", CIDR: "10.0.0.0/24", IPVersion: 4, GatewayIP: "10.0.0.1",
		DNSNameservers: []string{"10.0.0.53"}}
	for _, tc := range []struct {
		name             string
		subnets          []agentapi.Subnet
		mtu              int
		managed, other   bool
		prefixes         []string
		autonomous       []bool
		rdnss            []string
		lifetime, wantMT uint32
	}{
		{name: "slaac", subnets: []agentapi.Subnet{v4, subnet6("a", "2001:db8:1::/64", ModeSLAAC, "2001:db8::53", "192.0.2.53")},
			mtu: 1450, prefixes: []string{"2001:db8:1::/64"}, autonomous: []bool{true},
			rdnss: []string{"2001:db8::53"}, lifetime: 1800, wantMT: 1450},
		{name: "stateful", subnets: []agentapi.Subnet{subnet6("b", "2001:db8:2::/64", ModeStateful)},
			mtu: 9000, managed: true, prefixes: []string{"2001:db8:2::/64"}, autonomous: []bool{false},
			lifetime: 1800, wantMT: 9000},
		{name: "stateless, MTU too small for an option", subnets: []agentapi.Subnet{subnet6("c", "2001:db8:3::/64", ModeStateless, "2001:db8::53", "2001:db8::54")},
			mtu: 1000, other: true, prefixes: []string{"2001:db8:3::/64"}, autonomous: []bool{true},
			rdnss: []string{"2001:db8::53", "2001:db8::54"}, lifetime: 1800},
		{name: "two subnets, DNS deduplicated", subnets: []agentapi.Subnet{
			subnet6("d", "2001:db8:4::/64", ModeStateful, "2001:db8::53"),
			subnet6("e", "2001:db8:5::1/64", ModeSLAAC, "2001:db8::53", "2001:db8::55")},
			mtu: 1500, managed: true, prefixes: []string{"2001:db8:4::/64", "2001:db8:5::/64"},
			autonomous: []bool{false, true}, rdnss: []string{"2001:db8::53", "2001:db8::55"}, lifetime: 1800, wantMT: 1500},
		{name: "no gateway: not a default router", subnets: []agentapi.Subnet{func() agentapi.Subnet {
			s := subnet6("f", "2001:db8:6::/64", ModeSLAAC)
			s.GatewayIP = ""
			return s
		}()}, mtu: 1500, prefixes: []string{"2001:db8:6::/64"}, autonomous: []bool{true}, lifetime: 0, wantMT: 1500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := agentapi.Port{ID: "p", MTU: tc.mtu, Subnets: tc.subnets}
			a, err := buildAdvert(&cfg, &p)
			if err != nil {
				t.Fatal(err)
			}
			ra := parseRA(t, a.marshal(&cfg, mac))
			if ra.curHopLimit != 64 || ra.managed != tc.managed || ra.other != tc.other ||
				uint32(ra.routerLifetime) != tc.lifetime || ra.mtu != tc.wantMT || ra.sllao.String() != agentapi.HostMAC {
				t.Errorf("got %+v", ra)
			}
			if len(ra.prefixes) != len(tc.prefixes) {
				t.Fatalf("prefixes %+v, want %v", ra.prefixes, tc.prefixes)
			}
			for i, pi := range ra.prefixes {
				if pi.prefix.String() != tc.prefixes[i] || pi.onLink || pi.autonomous != tc.autonomous[i] ||
					pi.valid != 86400 || pi.preferred != 14400 || pi.reservedFlagsNonZero {
					t.Errorf("prefix %d: %+v", i, pi)
				}
			}
			var rdnss []string
			for _, d := range ra.rdnss {
				rdnss = append(rdnss, d.String())
			}
			if !slices.Equal(rdnss, tc.rdnss) || (len(rdnss) > 0 && ra.rdnssLifetime != 1800) {
				t.Errorf("RDNSS %v (lifetime %d), want %v", rdnss, ra.rdnssLifetime, tc.rdnss)
			}
			if ra.unknownOptionType != nil {
				t.Errorf("unexpected options %v", ra.unknownOptionType)
			}
			if b := a.marshal(&cfg, nil); string(b) != string(a.body) {
				t.Error("body is not the advertisement without SLLAO")
			}
		})
	}
}

func TestBuildAdvertErrors(t *testing.T) {
	cfg := Config{}
	cfg.setDefaults()
	noRA := subnet6("x", "2001:db8:7::/64", "")
	noRA.IPv6AddressMode = ModeSLAAC // an external router announces it
	for _, tc := range []struct {
		subnets []agentapi.Subnet
		want    string
	}{
		{nil, errNoRA.Error()},
		{[]agentapi.Subnet{noRA}, errNoRA.Error()},
		{[]agentapi.Subnet{{ID: "v4", CIDR: "10.0.0.0/24", IPVersion: 4}}, errNoRA.Error()},
		{[]agentapi.Subnet{subnet6("bad", "2001:db8::/zz", ModeSLAAC)}, "bad IPv6 CIDR"},
		{[]agentapi.Subnet{subnet6("v4cidr", "10.0.0.0/24", ModeSLAAC)}, "bad IPv6 CIDR"},
		{[]agentapi.Subnet{subnet6("mode", "2001:db8::/64", "radvd")}, "unknown ipv6_ra_mode"},
	} {
		_, err := buildAdvert(&cfg, &agentapi.Port{ID: "p", Subnets: tc.subnets})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.subnets, err, tc.want)
		}
		if tc.want == errNoRA.Error() && !errors.Is(err, errNoRA) {
			t.Errorf("%+v: %v is not errNoRA", tc.subnets, err)
		}
	}
}

func TestSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		max  uint32
		want uint32
	}{
		{0, 0, 0}, {-time.Second, 0, 0}, {1500 * time.Millisecond, 0, 2}, {time.Hour, 9000, 3600},
		{10 * time.Hour, 9000, 9000}, {200 * 365 * 24 * time.Hour, 0, 0xfffffffe},
	} {
		if got := seconds(tc.d, tc.max); got != tc.want {
			t.Errorf("seconds(%v, %d) = %d, want %d", tc.d, tc.max, got, tc.want)
		}
	}
}
