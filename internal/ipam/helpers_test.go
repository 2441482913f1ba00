package ipam

import (
	"net/netip"
	"testing"

	"github.com/spinel-net/spinel/internal/neutron"
)

// wantErr describes an expected *neutron.Error; the zero value means no
// error is expected.
type wantErr struct {
	status int
	typ    string
	msg    string
}

func (w wantErr) check(t *testing.T, err error) {
	t.Helper()
	if w.typ == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("expected %s error %q, got nil", w.typ, w.msg)
	}
	e, ok := neutron.As(err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *neutron.Error", err, err)
	}
	if e.Status != w.status || e.Type != w.typ || e.Message != w.msg {
		t.Fatalf("got error\n  %d %s %q\nwant\n  %d %s %q", e.Status, e.Type, e.Message, w.status, w.typ, w.msg)
	}
}

func inputErr(msg string) wantErr {
	return wantErr{400, "InvalidInput", "Invalid input for operation: " + msg + "."}
}

func attrErr(attr, reason string) wantErr {
	return wantErr{400, "HTTPBadRequest", "Invalid input for " + attr + ". Reason: " + reason + "."}
}

var ok = wantErr{}

func a(s string) netip.Addr     { return netip.MustParseAddr(s) }
func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ap(s string) *netip.Addr   { x := a(s); return &x }
func sp(s string) *string       { return &s }
func rg(s, e string) Range      { return Range{Start: a(s), End: a(e)} }

func rangesString(rs []Range) string {
	out := "["
	for i, r := range rs {
		if i > 0 {
			out += " "
		}
		out += r.String()
	}
	return out + "]"
}
