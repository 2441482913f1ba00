package ipam

import "testing"

func TestEUI64(t *testing.T) {
	tests := []struct {
		prefix, mac, want string
		err               wantErr
	}{
		// RFC 4291 style vector: 00:16:3e -> 02:16:3e (U/L flipped), ff:fe inserted.
		{"2001:db8::/64", "00:16:3e:33:44:55", "2001:db8::216:3eff:fe33:4455", ok},
		{"2001:db8::/64", "fa:16:3e:00:00:01", "2001:db8::f816:3eff:fe00:1", ok},
		{"fe80::/64", "52:54:00:12:34:56", "fe80::5054:ff:fe12:3456", ok},
		{"2001:db8:1:2::/64", "FA-16-3E-AB-CD-EF", "2001:db8:1:2:f816:3eff:feab:cdef", ok},
		{"2001:db8::/64", "fa16.3eab.cdef", "2001:db8::f816:3eff:feab:cdef", ok},
		{"2001:db8::/64", "fa163eabcdef", "2001:db8::f816:3eff:feab:cdef", ok},
		{"2001:db8::/64", "fa:16:3e:ff:fe:ab:cd:ef", "2001:db8::f816:3eff:feab:cdef", ok}, // EUI-64 as is
		{"2001:db8::1/64", "00:16:3e:33:44:55", "2001:db8::216:3eff:fe33:4455", ok},       // host bits ignored
		{"2001:db8::/64", "gg163eabcdef", "", inputErr("Bad prefix or mac format for generating IPv6 address by EUI-64: 2001:db8::/64, gg163eabcdef:")},
		{"2001:db8::/64", "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01", "", inputErr("Bad prefix or mac format for generating IPv6 address by EUI-64: 2001:db8::/64, 00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01:")},
		{"10.0.0.0/24", "00:16:3e:33:44:55", "", inputErr("Unable to generate IP address by EUI64 for IPv4 prefix")},
		{"2001:db8::/64", "00:16:3e:33:44", "", inputErr("Bad prefix or mac format for generating IPv6 address by EUI-64: 2001:db8::/64, 00:16:3e:33:44:")},
		{"2001:db8::/64", "zz:16:3e:33:44:55", "", inputErr("Bad prefix or mac format for generating IPv6 address by EUI-64: 2001:db8::/64, zz:16:3e:33:44:55:")},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:0/112", "00:16:3e:33:44:55", "", inputErr("Bad prefix or mac format for generating IPv6 address by EUI-64: ffff:ffff:ffff:ffff:ffff:ffff:ffff:0/112, 00:16:3e:33:44:55:")},
	}
	for _, tc := range tests {
		t.Run(tc.prefix+" "+tc.mac, func(t *testing.T) {
			got, err := EUI64(pfx(tc.prefix), tc.mac)
			tc.err.check(t, err)
			if err == nil {
				if got != a(tc.want) {
					t.Fatalf("EUI64 = %s, want %s", got, tc.want)
				}
				if !IsEUI64Address(got) {
					t.Fatalf("IsEUI64Address(%s) = false", got)
				}
			}
		})
	}
}

func TestIsEUI64Address(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"2001:db8::216:3eff:fe33:4455", true},
		{"fe80::5054:ff:fe12:3456", true},
		{"2001:db8::1", false},
		{"2001:db8::216:3eff:fd33:4455", false},
		{"10.0.0.1", false},
	} {
		if got := IsEUI64Address(a(tc.ip)); got != tc.want {
			t.Errorf("IsEUI64Address(%s) = %v", tc.ip, got)
		}
	}
}
