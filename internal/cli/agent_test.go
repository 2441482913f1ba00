package cli

import (
	"net/netip"
	"testing"
)

func TestParseUplink(t *testing.T) {
	for _, tc := range []struct {
		in   string
		peer string // "" unnumbered
		asn  uint32
		ok   bool
	}{
		{"up1:10.255.1.0:65101", "10.255.1.0", 65101, true},
		{"up1:2001:db8::1:65101", "2001:db8::1", 65101, true},
		{"up1:unnumbered:65101", "", 65101, true},
		{"up1::65101", "", 65101, true},
		{"up1:10.255.1.0", "", 0, false},
		{"up1", "", 0, false},
		{":10.0.0.1:1", "", 0, false},
		{"up1:bogus:65101", "", 0, false},
		{"up1:unnumbered:0", "", 0, false},
		{"up1:unnumbered:x", "", 0, false},
	} {
		u, err := parseUplink(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if !tc.ok {
			continue
		}
		want := netip.Addr{}
		if tc.peer != "" {
			want = netip.MustParseAddr(tc.peer)
		}
		if u.Interface != "up1" || u.PeerAddress != want || u.PeerASN != tc.asn {
			t.Errorf("%q: got %+v", tc.in, u)
		}
	}
}
