package chassis

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/ovntest"
	"github.com/spinel-net/spinel/internal/ovsdb"
)

func TestHas(t *testing.T) {
	o := ovntest.Start(t)
	sb, err := ovsdb.Dial(o.SB.Endpoint(), ovsdb.Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sb.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := Watch(ctx, sb)
	if err != nil {
		t.Fatal(err)
	}
	if h.Has("hv1") || h.Has("") {
		t.Fatal("a chassis before any was added")
	}
	o.SBCtl(t, "chassis-add", "chassis-1", "geneve", "127.0.0.1")
	o.SBCtl(t, "set", "Chassis", "chassis-1", "hostname=hv1.example")
	sb.Echo(ctx)
	if !h.Has("hv1.example") || !h.Has("chassis-1") || h.Has("hv2") {
		t.Fatal("lookup by hostname or name wrong")
	}
	// While SB is down the last known chassis still count.
	o.SB.Stop()
	if !h.Has("hv1.example") {
		t.Fatal("forgot the chassis while SB is down")
	}
	o.SB.Start(t)
	o.SBCtl(t, "chassis-del", "chassis-1")
	deadline := time.Now().Add(10 * time.Second)
	for h.Has("hv1.example") {
		if time.Now().After(deadline) {
			t.Fatal("deleted chassis still present after SB came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
