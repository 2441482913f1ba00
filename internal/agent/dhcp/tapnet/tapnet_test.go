package tapnet

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

func TestBuildUDP4(t *testing.T) {
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.5")
	for _, payload := range [][]byte{[]byte("hello, odd"), bytes.Repeat([]byte{0xab}, 300)} {
		b, err := BuildUDP4(src, dst, 67, 68, payload)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 28+len(payload) || b[0] != 0x45 || b[9] != 17 ||
			int(binary.BigEndian.Uint16(b[2:])) != len(b) {
			t.Fatalf("bad header % x", b[:28])
		}
		if c := checksum(0, b[:20]); c != 0 {
			t.Errorf("IP header checksum does not verify: %#x", c)
		}
		var sum uint32
		sum = sumWords(sum, b[12:20])
		sum += 17 + uint32(len(b)-20)
		if c := checksum(sum, b[20:]); c != 0 {
			t.Errorf("UDP checksum does not verify: %#x", c)
		}
		if binary.BigEndian.Uint16(b[20:]) != 67 || binary.BigEndian.Uint16(b[22:]) != 68 ||
			int(binary.BigEndian.Uint16(b[24:])) != 8+len(payload) || !bytes.Equal(b[28:], payload) {
			t.Errorf("bad UDP header or payload")
		}
	}
	if _, err := BuildUDP4(netip.MustParseAddr("::1"), dst, 1, 2, nil); err == nil {
		t.Error("IPv6 source accepted")
	}
}
