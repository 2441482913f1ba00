package dhcp

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/spinel-net/spinel/internal/agentapi"
)

const testMAC = "fa:16:3e:11:22:33"

func testPort() agentapi.Port {
	return agentapi.Port{
		ID:  "11111111-2222-3333-4444-555555555555",
		MAC: testMAC,
		MTU: 1450,
		FixedIPs: []agentapi.FixedIP{
			{SubnetID: "v6", IPAddress: "2001:db8::5"},
			{SubnetID: "v4", IPAddress: "10.0.0.5"},
		},
		Subnets: []agentapi.Subnet{
			{ID: "v6", CIDR: "2001:db8::/64", IPVersion: 6, EnableDHCP: true, GatewayIP: "2001:db8::1"},
			{ID: "v4", CIDR: "10.0.0.0/24", IPVersion: 4, EnableDHCP: true, GatewayIP: "10.0.0.1",
				DNSNameservers: []string{"192.0.2.53", "2001:db8::53", "198.51.100.53"},
				HostRoutes: []agentapi.HostRoute{
					{Destination: "172.16.0.0/12", Nexthop: "10.0.0.254"},
					{Destination: "192.168.7.0/24", Nexthop: "10.0.0.253"},
				}},
		},
		Hostname:  "vm-one",
		DNSDomain: "example.org.",
	}
}

func testConfig() *Config {
	return &Config{LeaseTime: 24 * time.Hour, MetadataIP: defaultMetadataIP, DomainName: "openstacklocal"}
}

func mustLease(t *testing.T, cfg *Config, p agentapi.Port) *lease {
	t.Helper()
	l, err := buildLease(cfg, &p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func routeStrings(rs []*dhcpv4.Route) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Dest.String()+" via "+r.Router.String())
	}
	return out
}

func TestLeaseOptions(t *testing.T) {
	l := mustLease(t, testConfig(), testPort())
	if l.ip != netip.MustParseAddr("10.0.0.5") || l.serverID != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("ip %v server id %v", l.ip, l.serverID)
	}
	m := &dhcpv4.DHCPv4{Options: l.opts}
	if got := m.SubnetMask().String(); got != "ffffff00" {
		t.Errorf("mask %s", got)
	}
	if got := m.Router(); len(got) != 1 || !got[0].Equal(net.IPv4(10, 0, 0, 1)) {
		t.Errorf("router %v", got)
	}
	if got := m.DNS(); len(got) != 2 || !got[0].Equal(net.IPv4(192, 0, 2, 53)) || !got[1].Equal(net.IPv4(198, 51, 100, 53)) {
		t.Errorf("dns %v", got)
	}
	if m.HostName() != "vm-one" || m.DomainName() != "example.org" {
		t.Errorf("hostname %q domain %q", m.HostName(), m.DomainName())
	}
	if mtu, err := dhcpv4.GetUint16(dhcpv4.OptionInterfaceMTU, m.Options); err != nil || mtu != 1450 {
		t.Errorf("mtu %d %v", mtu, err)
	}
	if m.IPAddressLeaseTime(0) != 24*time.Hour || m.IPAddressRenewalTime(0) != 12*time.Hour ||
		m.IPAddressRebindingTime(0) != 21*time.Hour {
		t.Errorf("times %v %v %v", m.IPAddressLeaseTime(0), m.IPAddressRenewalTime(0), m.IPAddressRebindingTime(0))
	}
	if !m.ServerIdentifier().Equal(net.IPv4(10, 0, 0, 1)) {
		t.Errorf("server id %v", m.ServerIdentifier())
	}
	want := []string{
		"172.16.0.0/12 via 10.0.0.254",
		"192.168.7.0/24 via 10.0.0.253",
		"169.254.169.254/32 via 10.0.0.1",
		"0.0.0.0/0 via 10.0.0.1",
	}
	if got := routeStrings(m.ClasslessStaticRoute()); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("routes %v, want %v", got, want)
	}
}

func TestLeaseVariants(t *testing.T) {
	t.Run("default hostname and config domain", func(t *testing.T) {
		p := testPort()
		p.Hostname, p.DNSDomain = "", ""
		m := &dhcpv4.DHCPv4{Options: mustLease(t, testConfig(), p).opts}
		if m.HostName() != "host-10-0-0-5" || m.DomainName() != "openstacklocal" {
			t.Errorf("hostname %q domain %q", m.HostName(), m.DomainName())
		}
	})
	t.Run("fqdn hostname", func(t *testing.T) {
		p := testPort()
		p.Hostname = "vm-one.example.org"
		m := &dhcpv4.DHCPv4{Options: mustLease(t, testConfig(), p).opts}
		if m.HostName() != "vm-one" {
			t.Errorf("hostname %q", m.HostName())
		}
	})
	t.Run("no dns, no mtu", func(t *testing.T) {
		p := testPort()
		p.Subnets[1].DNSNameservers = nil
		p.MTU = 0
		l := mustLease(t, testConfig(), p)
		if l.opts.Has(dhcpv4.OptionDomainNameServer) || l.opts.Has(dhcpv4.OptionInterfaceMTU) {
			t.Errorf("unexpected options %v", l.opts)
		}
	})
	t.Run("host route overrides default and metadata", func(t *testing.T) {
		p := testPort()
		p.Subnets[1].HostRoutes = []agentapi.HostRoute{
			{Destination: "0.0.0.0/0", Nexthop: "10.0.0.9"},
			{Destination: "169.254.169.254/32", Nexthop: "10.0.0.8"},
		}
		got := routeStrings(mustLease(t, testConfig(), p).routes)
		want := "0.0.0.0/0 via 10.0.0.9,169.254.169.254/32 via 10.0.0.8"
		if strings.Join(got, ",") != want {
			t.Errorf("routes %v", got)
		}
	})
	t.Run("gateway outside the subnet", func(t *testing.T) {
		p := testPort()
		p.Subnets[1].GatewayIP = "10.9.9.1"
		p.Subnets[1].HostRoutes = nil
		got := routeStrings(mustLease(t, testConfig(), p).routes)
		want := "10.9.9.1/32 via 0.0.0.0,169.254.169.254/32 via 10.9.9.1,0.0.0.0/0 via 10.9.9.1"
		if strings.Join(got, ",") != want {
			t.Errorf("routes %v", got)
		}
	})
	t.Run("no gateway", func(t *testing.T) {
		p := testPort()
		p.Subnets[1].GatewayIP = ""
		if _, err := buildLease(testConfig(), &p); err == nil {
			t.Fatal("no gateway and no ServerID: want an error")
		}
		cfg := testConfig()
		cfg.ServerID = netip.MustParseAddr("192.0.2.1")
		l := mustLease(t, cfg, p)
		if l.serverID != cfg.ServerID || l.opts.Has(dhcpv4.OptionRouter) {
			t.Errorf("server id %v, options %v", l.serverID, l.opts)
		}
		if got := routeStrings(l.routes); len(got) != 2 || strings.Contains(strings.Join(got, ","), "169.254") {
			t.Errorf("routes %v", got)
		}
	})
	t.Run("nothing to serve", func(t *testing.T) {
		p := testPort()
		p.Subnets[1].EnableDHCP = false
		if _, err := buildLease(testConfig(), &p); !errors.Is(err, errNoDHCP) {
			t.Errorf("dhcp disabled: %v", err)
		}
		p = testPort()
		p.FixedIPs = p.FixedIPs[:1]
		if _, err := buildLease(testConfig(), &p); !errors.Is(err, errNoDHCP) {
			t.Errorf("v6 only: %v", err)
		}
	})
	t.Run("bad data", func(t *testing.T) {
		p := testPort()
		p.MAC = "nope"
		if _, err := buildLease(testConfig(), &p); err == nil {
			t.Error("bad MAC accepted")
		}
		p = testPort()
		p.FixedIPs[1].IPAddress = "10.0.1.5"
		if _, err := buildLease(testConfig(), &p); err == nil {
			t.Error("address outside the subnet accepted")
		}
	})
}

// request builds a client message as a real client would, through the
// wire format.
func request(t *testing.T, mt dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	mac, _ := net.ParseMAC(testMAC)
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(mt),
		dhcpv4.WithOption(dhcpv4.OptClientIdentifier([]byte{1, 2, 3}))}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	m, err = dhcpv4.FromBytes(m.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// answerWire answers req and returns the reply as the client parses it.
func answerWire(t *testing.T, l *lease, req *dhcpv4.DHCPv4) (*reply, *dhcpv4.DHCPv4, string) {
	t.Helper()
	r, why := l.answer(req)
	if r == nil {
		return nil, nil, why
	}
	m, err := dhcpv4.FromBytes(r.msg.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	if m.TransactionID != req.TransactionID || !bytes.Equal(m.ClientHWAddr, req.ClientHWAddr) ||
		m.OpCode != dhcpv4.OpcodeBootReply {
		t.Fatalf("reply header %v", m)
	}
	if !bytes.Equal(m.Options.Get(dhcpv4.OptionClientIdentifier), []byte{1, 2, 3}) {
		t.Errorf("client identifier not echoed")
	}
	if !m.ServerIdentifier().Equal(net.IPv4(10, 0, 0, 1)) {
		t.Errorf("server id %v", m.ServerIdentifier())
	}
	return r, m, why
}

var (
	portIP    = net.IPv4(10, 0, 0, 5)
	gatewayIP = net.IPv4(10, 0, 0, 1)
)

func TestAnswer(t *testing.T) {
	l := mustLease(t, testConfig(), testPort())
	mac, _ := net.ParseMAC(testMAC)

	t.Run("discover", func(t *testing.T) {
		r, m, _ := answerWire(t, l, request(t, dhcpv4.MessageTypeDiscover))
		if m.MessageType() != dhcpv4.MessageTypeOffer || !m.YourIPAddr.Equal(portIP) {
			t.Fatalf("got %v", m.Summary())
		}
		if r.dstIP != l.ip || !bytes.Equal(r.dstMAC, mac) {
			t.Errorf("sent to %v %v, want unicast to the new address", r.dstIP, r.dstMAC)
		}
		if m.IPAddressLeaseTime(0) != 24*time.Hour || len(m.ClasslessStaticRoute()) != 4 {
			t.Errorf("options missing: %v", m.Summary())
		}
	})
	t.Run("discover with broadcast flag", func(t *testing.T) {
		r, _, _ := answerWire(t, l, request(t, dhcpv4.MessageTypeDiscover, dhcpv4.WithBroadcast(true)))
		if r.dstIP != broadcastIP || r.dstMAC.String() != "ff:ff:ff:ff:ff:ff" {
			t.Errorf("sent to %v %v, want broadcast", r.dstIP, r.dstMAC)
		}
	})
	t.Run("foreign MAC", func(t *testing.T) {
		other, _ := net.ParseMAC("fa:16:3e:00:00:99")
		r, _, why := answerWire(t, l, request(t, dhcpv4.MessageTypeDiscover, dhcpv4.WithHwAddr(other)))
		if r != nil || why == "" {
			t.Errorf("answered a foreign MAC")
		}
	})
	t.Run("relayed", func(t *testing.T) {
		r, _, _ := answerWire(t, l, request(t, dhcpv4.MessageTypeDiscover, dhcpv4.WithGatewayIP(net.IPv4(10, 0, 0, 7))))
		if r != nil {
			t.Errorf("answered a relayed request")
		}
	})
	t.Run("request selecting", func(t *testing.T) {
		_, m, _ := answerWire(t, l, request(t, dhcpv4.MessageTypeRequest,
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(gatewayIP)),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(portIP))))
		if m.MessageType() != dhcpv4.MessageTypeAck || !m.YourIPAddr.Equal(portIP) {
			t.Fatalf("got %v", m.Summary())
		}
	})
	t.Run("request for another server", func(t *testing.T) {
		r, _, _ := answerWire(t, l, request(t, dhcpv4.MessageTypeRequest,
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 2))),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(portIP))))
		if r != nil {
			t.Errorf("answered a request for another server")
		}
	})
	for name, mods := range map[string][]dhcpv4.Modifier{
		"selecting wrong address": {
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(gatewayIP)),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 0, 0, 6)))},
		"init-reboot wrong address": {dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 0, 0, 6)))},
		"renewing wrong address":    {dhcpv4.WithClientIP(net.IPv4(10, 0, 0, 6))},
	} {
		t.Run(name, func(t *testing.T) {
			r, m, _ := answerWire(t, l, request(t, dhcpv4.MessageTypeRequest, mods...))
			if m.MessageType() != dhcpv4.MessageTypeNak || !m.YourIPAddr.IsUnspecified() {
				t.Fatalf("got %v", m.Summary())
			}
			if r.dstIP != broadcastIP || r.dstMAC.String() != "ff:ff:ff:ff:ff:ff" {
				t.Errorf("NAK sent to %v %v, want broadcast", r.dstIP, r.dstMAC)
			}
			if m.Options.Has(dhcpv4.OptionIPAddressLeaseTime) || m.Options.Has(dhcpv4.OptionRouter) {
				t.Errorf("NAK carries configuration: %v", m.Summary())
			}
		})
	}
	t.Run("init-reboot", func(t *testing.T) {
		r, m, _ := answerWire(t, l, request(t, dhcpv4.MessageTypeRequest,
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(portIP))))
		if m.MessageType() != dhcpv4.MessageTypeAck || r.dstIP != l.ip {
			t.Fatalf("got %v to %v", m.Summary(), r.dstIP)
		}
	})
	t.Run("renewing", func(t *testing.T) {
		r, m, _ := answerWire(t, l, request(t, dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(portIP)))
		if m.MessageType() != dhcpv4.MessageTypeAck || !m.YourIPAddr.Equal(portIP) || !m.ClientIPAddr.Equal(portIP) {
			t.Fatalf("got %v", m.Summary())
		}
		if r.dstIP != l.ip || !bytes.Equal(r.dstMAC, mac) {
			t.Errorf("sent to %v %v, want unicast to ciaddr", r.dstIP, r.dstMAC)
		}
	})
	t.Run("inform", func(t *testing.T) {
		r, m, _ := answerWire(t, l, request(t, dhcpv4.MessageTypeInform, dhcpv4.WithClientIP(portIP)))
		if m.MessageType() != dhcpv4.MessageTypeAck || !m.YourIPAddr.IsUnspecified() {
			t.Fatalf("got %v", m.Summary())
		}
		if m.Options.Has(dhcpv4.OptionIPAddressLeaseTime) || m.Options.Has(dhcpv4.OptionRenewTimeValue) {
			t.Errorf("lease time in an INFORM ACK")
		}
		if len(m.DNS()) != 2 || len(m.ClasslessStaticRoute()) != 4 || r.dstIP != l.ip {
			t.Errorf("got %v to %v", m.Summary(), r.dstIP)
		}
	})
	for _, mt := range []dhcpv4.MessageType{dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeDecline} {
		t.Run(mt.String(), func(t *testing.T) {
			r, _, why := answerWire(t, l, request(t, mt, dhcpv4.WithClientIP(portIP)))
			if r != nil || why != "" {
				t.Errorf("reply %v, reason %q", r, why)
			}
		})
	}
}

func TestAnswerOption249(t *testing.T) {
	l := mustLease(t, testConfig(), testPort())
	prl := func(codes ...dhcpv4.OptionCode) dhcpv4.Modifier { return dhcpv4.WithRequestedOptions(codes...) }
	for name, tc := range map[string]struct {
		mod  dhcpv4.Modifier
		want bool
	}{
		"no list":        {prl(), false},
		"249 only":       {prl(dhcpv4.OptionRouter, optionMSClasslessStaticRoute), true},
		"121 and 249":    {prl(dhcpv4.OptionClasslessStaticRoute, optionMSClasslessStaticRoute), false},
		"121 only":       {prl(dhcpv4.OptionClasslessStaticRoute), false},
		"neither":        {prl(dhcpv4.OptionRouter), false},
		"no list at all": {func(*dhcpv4.DHCPv4) {}, false},
	} {
		t.Run(name, func(t *testing.T) {
			_, m, _ := answerWire(t, l, request(t, dhcpv4.MessageTypeDiscover, tc.mod))
			got := m.Options.Get(optionMSClasslessStaticRoute)
			if (got != nil) != tc.want {
				t.Fatalf("249 sent: %v, want %v", got != nil, tc.want)
			}
			if got != nil && !bytes.Equal(got, m.Options.Get(dhcpv4.OptionClasslessStaticRoute)) {
				t.Errorf("249 differs from 121")
			}
			if !m.Options.Has(dhcpv4.OptionClasslessStaticRoute) {
				t.Errorf("121 missing")
			}
		})
	}
}

func TestAnswerSize(t *testing.T) {
	p := testPort()
	p.Subnets[1].HostRoutes = nil
	for i := range 20 {
		p.Subnets[1].HostRoutes = append(p.Subnets[1].HostRoutes, agentapi.HostRoute{
			Destination: netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16, byte(i), 0}), 24).String(),
			Nexthop:     "10.0.0.254"})
	}
	l := mustLease(t, testConfig(), p)
	// Neutron's maximum of 20 host routes still fits 576 bytes with 121.
	r, _ := l.answer(request(t, dhcpv4.MessageTypeDiscover))
	if n := len(r.msg.ToBytes()) + ipUDPHeaders; r.oversize || n > minMessageSize {
		t.Errorf("reply of %d bytes, oversize %v", n, r.oversize)
	}
	// With 249 as well it would not: 249 is dropped.
	r, _ = l.answer(request(t, dhcpv4.MessageTypeDiscover, dhcpv4.WithRequestedOptions(optionMSClasslessStaticRoute)))
	if r.msg.Options.Has(optionMSClasslessStaticRoute) || r.oversize {
		t.Errorf("249 kept in an oversize reply (oversize %v)", r.oversize)
	}
	// A client announcing a larger maximum gets it.
	r, _ = l.answer(request(t, dhcpv4.MessageTypeDiscover, dhcpv4.WithRequestedOptions(optionMSClasslessStaticRoute),
		dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(1500))))
	if !r.msg.Options.Has(optionMSClasslessStaticRoute) {
		t.Errorf("249 dropped though the client accepts 1500 bytes")
	}
}
