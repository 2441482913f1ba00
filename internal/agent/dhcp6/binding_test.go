package dhcp6

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/spinel-net/spinel/internal/agentapi"
)

func subnet6(id, cidr, mode string, dns ...string) agentapi.Subnet {
	return agentapi.Subnet{ID: id, CIDR: cidr, IPVersion: 6, EnableDHCP: true, DNSNameservers: dns,
		IPv6RAMode: mode, IPv6AddressMode: mode}
}

var (
	statefulSubnet  = subnet6("stateful", "2001:db8:2::/64", ModeStateful, "2001:db8::53", "192.0.2.53", "2001:db8::53")
	statelessSubnet = subnet6("stateless", "2001:db8:3::/64", ModeStateless, "2001:db8::55")
	clientMAC, _    = net.ParseMAC("fa:16:3e:00:00:01")
	clientDUID      = &dhcpv6.DUIDLLT{HWType: iana.HWTypeEthernet, Time: 1234, LinkLayerAddr: clientMAC}
)

func testConfig() *Config {
	s := New(Config{LeaseTime: time.Hour, DomainName: "openstacklocal."}, nil)
	return &s.cfg
}

func statefulPort() agentapi.Port {
	return agentapi.Port{ID: "p1", Tap: "tapp1", MAC: clientMAC.String(), MTU: 1500,
		FixedIPs: []agentapi.FixedIP{{SubnetID: "v4", IPAddress: "10.0.0.5"},
			{SubnetID: "stateful", IPAddress: "2001:db8:2::5"}},
		Subnets: []agentapi.Subnet{{ID: "v4", CIDR: "10.0.0.0/24", IPVersion: 4, EnableDHCP: true}, statefulSubnet}}
}

func statelessPort() agentapi.Port {
	return agentapi.Port{ID: "p2", Tap: "tapp2", MAC: clientMAC.String(), DNSDomain: "example.org.",
		FixedIPs: []agentapi.FixedIP{{SubnetID: "stateless", IPAddress: "2001:db8:3:0:f816:3eff:fe00:1"}},
		Subnets:  []agentapi.Subnet{statelessSubnet}}
}

func mustBinding(t *testing.T, p agentapi.Port) *binding {
	t.Helper()
	b, err := buildBinding(testConfig(), &p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuildBinding(t *testing.T) {
	b := mustBinding(t, statefulPort())
	if fmt.Sprint(b.addrs) != "[2001:db8:2::5]" || fmt.Sprint(b.dns) != "[2001:db8::53]" || b.domain != "openstacklocal" {
		t.Errorf("stateful: %+v", b)
	}
	b = mustBinding(t, statelessPort())
	if len(b.addrs) != 0 || fmt.Sprint(b.dns) != "[2001:db8::55]" || b.domain != "example.org" {
		t.Errorf("stateless: %+v", b)
	}

	slaac := statelessPort()
	slaac.Subnets = []agentapi.Subnet{subnet6("stateless", "2001:db8:3::/64", "slaac")}
	noDHCP := statefulPort()
	noDHCP.Subnets[1].EnableDHCP = false
	outside := statefulPort()
	outside.FixedIPs[1].IPAddress = "2001:db8:99::5"
	badCIDR := statefulPort()
	badCIDR.Subnets[1].CIDR = "10.0.0.0/24"
	for name, tc := range map[string]struct {
		p    agentapi.Port
		want string
	}{
		"slaac":            {slaac, errNoDHCP6.Error()},
		"DHCP disabled":    {noDHCP, errNoDHCP6.Error()},
		"no subnets":       {agentapi.Port{ID: "x"}, errNoDHCP6.Error()},
		"outside":          {outside, "not in subnet"},
		"IPv4 CIDR for v6": {badCIDR, "bad IPv6 CIDR"},
	} {
		_, err := buildBinding(testConfig(), &tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
		if tc.want == errNoDHCP6.Error() && !errors.Is(err, errNoDHCP6) {
			t.Errorf("%s: %v is not errNoDHCP6", name, err)
		}
	}
}

// message builds a client message; withIANA adds IA_NAs holding addrs.
func message(t *testing.T, mt dhcpv6.MessageType, opts ...dhcpv6.Option) *dhcpv6.Message {
	t.Helper()
	m, err := dhcpv6.NewMessage()
	if err != nil {
		t.Fatal(err)
	}
	m.MessageType = mt
	for _, o := range opts {
		m.AddOption(o)
	}
	// What goes on the wire must parse back.
	m2, err := dhcpv6.MessageFromBytes(m.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	return m2
}

func ianaOpt(id byte, addrs ...string) *dhcpv6.OptIANA {
	ia := &dhcpv6.OptIANA{IaId: [4]byte{0, 0, 0, id}}
	for _, a := range addrs {
		ia.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: net.ParseIP(a), PreferredLifetime: time.Hour, ValidLifetime: time.Hour})
	}
	return ia
}

var (
	cid        = dhcpv6.OptClientID(clientDUID)
	ourSID     = dhcpv6.OptServerID(testConfig().ServerDUID)
	foreignSID = dhcpv6.OptServerID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: clientMAC})
	rapid      = &dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit}
)

// answer runs b.answer and parses the reply back from its bytes.
func answer(t *testing.T, cfg *Config, b *binding, req *dhcpv6.Message) (*dhcpv6.Message, string) {
	t.Helper()
	r, why := b.answer(cfg, req)
	if r == nil {
		return nil, why
	}
	r2, err := dhcpv6.MessageFromBytes(r.ToBytes())
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	if r2.TransactionID != req.TransactionID {
		t.Errorf("xid %v, want %v", r2.TransactionID, req.TransactionID)
	}
	if sid := r2.Options.ServerID(); sid == nil || sid.String() != "DUID-LL{HWType=Ethernet HWAddr="+agentapi.HostMAC+"}" {
		t.Errorf("server id %v", sid)
	}
	if c := req.Options.ClientID(); c != nil && !c.Equal(r2.Options.ClientID()) {
		t.Errorf("client id %v, want %v", r2.Options.ClientID(), c)
	}
	return r2, ""
}

// addrs lists an IA's addresses as "addr preferred valid".
func addrs(ia *dhcpv6.OptIANA) []string {
	var out []string
	for _, a := range ia.Options.Addresses() {
		out = append(out, fmt.Sprintf("%s %v %v", a.IPv6Addr, a.PreferredLifetime, a.ValidLifetime))
	}
	return out
}

func status(opts interface{ Status() *dhcpv6.OptStatusCode }) string {
	if s := opts.Status(); s != nil {
		return s.StatusCode.String()
	}
	return ""
}

func checkConfig(t *testing.T, r *dhcpv6.Message, dns, domain string) {
	t.Helper()
	if got := fmt.Sprint(r.Options.DNS()); got != dns {
		t.Errorf("DNS %s, want %s", got, dns)
	}
	got := ""
	if l := r.Options.DomainSearchList(); l != nil {
		got = strings.Join(l.Labels, " ")
	}
	if got != domain {
		t.Errorf("search %q, want %q", got, domain)
	}
}

func TestAnswerStateful(t *testing.T) {
	cfg := testConfig()
	b := mustBinding(t, statefulPort())
	ours := []string{"2001:db8:2::5 1h0m0s 1h0m0s"}

	t.Run("solicit gets an advertise with preference 255", func(t *testing.T) {
		r, why := answer(t, cfg, b, message(t, dhcpv6.MessageTypeSolicit, cid, ianaOpt(1), dhcpv6.OptElapsedTime(0)))
		if r == nil {
			t.Fatal(why)
		}
		ia := r.Options.OneIANA()
		if r.MessageType != dhcpv6.MessageTypeAdvertise || r.Options.Preference() != 255 || ia == nil ||
			ia.IaId != [4]byte{0, 0, 0, 1} || !slices.Equal(addrs(ia), ours) ||
			ia.T1 != 30*time.Minute || ia.T2 != 48*time.Minute || r.GetOneOption(dhcpv6.OptionRapidCommit) != nil {
			t.Errorf("%s", r.Summary())
		}
		checkConfig(t, r, "[2001:db8::53]", "openstacklocal")
	})
	t.Run("solicit with rapid commit gets a reply", func(t *testing.T) {
		r, _ := answer(t, cfg, b, message(t, dhcpv6.MessageTypeSolicit, cid, ianaOpt(1), rapid))
		if r == nil || r.MessageType != dhcpv6.MessageTypeReply || r.GetOneOption(dhcpv6.OptionRapidCommit) == nil ||
			!slices.Equal(addrs(r.Options.OneIANA()), ours) {
			t.Errorf("%v", r)
		}
		noRapid := *cfg
		noRapid.DisableRapidCommit = true
		r, _ = answer(t, &noRapid, b, message(t, dhcpv6.MessageTypeSolicit, cid, ianaOpt(1), rapid))
		if r == nil || r.MessageType != dhcpv6.MessageTypeAdvertise {
			t.Errorf("rapid commit disabled: %v", r)
		}
	})
	t.Run("further IAs get nothing", func(t *testing.T) {
		r, _ := answer(t, cfg, b, message(t, dhcpv6.MessageTypeSolicit, cid, ianaOpt(1), ianaOpt(2),
			&dhcpv6.OptIATA{IaId: [4]byte{3}}, &dhcpv6.OptIAPD{IaId: [4]byte{4}}))
		ias := r.Options.IANA()
		if len(ias) != 2 || !slices.Equal(addrs(ias[0]), ours) || len(addrs(ias[1])) != 0 ||
			status(ias[1].Options) != "NoAddrsAvail" || status(ias[0].Options) != "" {
			t.Errorf("IA_NAs %v", ias)
		}
		if ta := r.Options.OneIATA(); ta == nil || status(ta.Options) != "NoAddrsAvail" {
			t.Errorf("IA_TA %v", ta)
		}
		if pd := r.Options.OneIAPD(); pd == nil || status(pd.Options) != "NoPrefixAvail" {
			t.Errorf("IA_PD %v", pd)
		}
	})
	t.Run("request, renew and rebind get the address", func(t *testing.T) {
		for _, req := range []*dhcpv6.Message{
			message(t, dhcpv6.MessageTypeRequest, cid, ourSID, ianaOpt(7, "2001:db8:2::5")),
			message(t, dhcpv6.MessageTypeRenew, cid, ourSID, ianaOpt(7, "2001:db8:2::5")),
			message(t, dhcpv6.MessageTypeRebind, cid, ianaOpt(7, "2001:db8:2::5")),
			message(t, dhcpv6.MessageTypeRequest, cid, ourSID, ianaOpt(7, "2001:db8:2::77")), // a hint is ignored
		} {
			r, why := answer(t, cfg, b, req)
			if r == nil {
				t.Fatalf("%s: %s", req.MessageType, why)
			}
			ia := r.Options.OneIANA()
			if r.MessageType != dhcpv6.MessageTypeReply || ia == nil || ia.IaId != [4]byte{0, 0, 0, 7} ||
				!slices.Equal(addrs(ia), ours) || status(ia.Options) != "" {
				t.Errorf("%s: %s", req.MessageType, r.Summary())
			}
			checkConfig(t, r, "[2001:db8::53]", "openstacklocal")
		}
	})
	t.Run("renewing a stale address gets it with lifetimes 0", func(t *testing.T) {
		for _, req := range []*dhcpv6.Message{
			message(t, dhcpv6.MessageTypeRenew, cid, ourSID, ianaOpt(7, "2001:db8:2::6")),
			message(t, dhcpv6.MessageTypeRebind, cid, ianaOpt(7, "2001:db8:2::6")),
		} {
			r, _ := answer(t, cfg, b, req)
			if got := addrs(r.Options.OneIANA()); !slices.Equal(got, append(ours, "2001:db8:2::6 0s 0s")) {
				t.Errorf("%s: %v", req.MessageType, got)
			}
		}
	})
	t.Run("confirm", func(t *testing.T) {
		r, _ := answer(t, cfg, b, message(t, dhcpv6.MessageTypeConfirm, cid, ianaOpt(7, "2001:db8:2::5")))
		if r == nil || r.MessageType != dhcpv6.MessageTypeReply || status(r.Options) != "Success" {
			t.Errorf("own address: %v", r)
		}
		r, _ = answer(t, cfg, b, message(t, dhcpv6.MessageTypeConfirm, cid, ianaOpt(7, "2001:db8:2::5", "2001:db8:2::6")))
		if r == nil || status(r.Options) != "NotOnLink" {
			t.Errorf("stale address: %v", r)
		}
		if r, _ := answer(t, cfg, b, message(t, dhcpv6.MessageTypeConfirm, cid, ianaOpt(7))); r != nil {
			t.Errorf("confirm without addresses answered: %v", r)
		}
	})
	t.Run("release and decline", func(t *testing.T) {
		for _, mt := range []dhcpv6.MessageType{dhcpv6.MessageTypeRelease, dhcpv6.MessageTypeDecline} {
			r, _ := answer(t, cfg, b, message(t, mt, cid, ourSID, ianaOpt(7, "2001:db8:2::5")))
			if r == nil || r.MessageType != dhcpv6.MessageTypeReply || status(r.Options) != "Success" {
				t.Errorf("%s: %v", mt, r)
			}
		}
	})
	t.Run("ignored", func(t *testing.T) {
		for name, req := range map[string]*dhcpv6.Message{
			"solicit without client id":     message(t, dhcpv6.MessageTypeSolicit, ianaOpt(1)),
			"solicit with a server id":      message(t, dhcpv6.MessageTypeSolicit, cid, ourSID, ianaOpt(1)),
			"request for another server":    message(t, dhcpv6.MessageTypeRequest, cid, foreignSID, ianaOpt(1)),
			"request without server id":     message(t, dhcpv6.MessageTypeRequest, cid, ianaOpt(1)),
			"renew for another server":      message(t, dhcpv6.MessageTypeRenew, cid, foreignSID, ianaOpt(1, "2001:db8:2::5")),
			"rebind with a server id":       message(t, dhcpv6.MessageTypeRebind, cid, ourSID, ianaOpt(1, "2001:db8:2::5")),
			"confirm with a server id":      message(t, dhcpv6.MessageTypeConfirm, cid, ourSID, ianaOpt(1, "2001:db8:2::5")),
			"release for another server":    message(t, dhcpv6.MessageTypeRelease, cid, foreignSID),
			"information request with IA":   message(t, dhcpv6.MessageTypeInformationRequest, cid, ianaOpt(1)),
			"information request elsewhere": message(t, dhcpv6.MessageTypeInformationRequest, cid, foreignSID),
			"advertise":                     message(t, dhcpv6.MessageTypeAdvertise, cid, ourSID),
			"reconfigure":                   message(t, dhcpv6.MessageTypeReconfigure, cid, ourSID),
		} {
			if r, why := b.answer(cfg, req); r != nil || why == "" {
				t.Errorf("%s: answered %v", name, r)
			}
		}
	})
}

func TestAnswerStateless(t *testing.T) {
	cfg := testConfig()
	b := mustBinding(t, statelessPort())
	for _, req := range []*dhcpv6.Message{
		message(t, dhcpv6.MessageTypeInformationRequest, cid),
		message(t, dhcpv6.MessageTypeInformationRequest), // the client id is optional here
		message(t, dhcpv6.MessageTypeInformationRequest, cid, ourSID),
	} {
		r, why := answer(t, cfg, b, req)
		if r == nil {
			t.Fatal(why)
		}
		if r.MessageType != dhcpv6.MessageTypeReply || r.Options.InformationRefreshTime(0) != 30*time.Minute ||
			len(r.Options.IANA()) != 0 {
			t.Errorf("%s", r.Summary())
		}
		checkConfig(t, r, "[2001:db8::55]", "example.org")
	}

	// No address to give: an advertise saying only that.
	r, _ := answer(t, cfg, b, message(t, dhcpv6.MessageTypeSolicit, cid, ianaOpt(1), rapid))
	if r == nil || r.MessageType != dhcpv6.MessageTypeAdvertise || status(r.Options) != "NoAddrsAvail" ||
		len(r.Options.IANA()) != 0 || r.Options.DNS() != nil {
		t.Errorf("solicit: %v", r)
	}
	r, _ = answer(t, cfg, b, message(t, dhcpv6.MessageTypeRequest, cid, ourSID, ianaOpt(1)))
	if r == nil || status(r.Options.OneIANA().Options) != "NoAddrsAvail" {
		t.Errorf("request: %v", r)
	}
	// An address from a time the subnet was stateful is taken back.
	r, _ = answer(t, cfg, b, message(t, dhcpv6.MessageTypeRenew, cid, ourSID, ianaOpt(1, "2001:db8:3::5")))
	if got := addrs(r.Options.OneIANA()); !slices.Equal(got, []string{"2001:db8:3::5 0s 0s"}) {
		t.Errorf("renew: %v", got)
	}
	r, _ = answer(t, cfg, b, message(t, dhcpv6.MessageTypeRebind, cid, ianaOpt(1)))
	if status(r.Options.OneIANA().Options) != "NoBinding" {
		t.Errorf("rebind: %v", r)
	}
	r, _ = answer(t, cfg, b, message(t, dhcpv6.MessageTypeConfirm, cid, ianaOpt(1, "2001:db8:3::5")))
	if status(r.Options) != "NotOnLink" {
		t.Errorf("confirm: %v", r)
	}
}
