package service

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/store"
)

// flvService returns a Service over an embedded etcd in a temporary directory.
func flvService(t *testing.T, cfg Config) *Service {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir(), UnsafeNoFsync: true}, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := cache.New(st.Client, st.Prefix(), Kinds(), log)
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	select {
	case <-c.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("cache not ready")
	}
	return New(cfg, st, c, log)
}

func flvBody(t *testing.T, m map[string]any) Body {
	t.Helper()
	out := Body{}
	for k, v := range m {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b
	}
	return out
}

func (s *Service) flvFlavor(t *testing.T, m map[string]any) *model.Flavor {
	t.Helper()
	o, err := s.createFlavor(context.Background(), flvBody(t, m))
	if err != nil {
		t.Fatal(err)
	}
	return o.(*model.Flavor)
}

func (s *Service) flvProfile(t *testing.T, m map[string]any) *model.ServiceProfile {
	t.Helper()
	o, err := s.createProfile(context.Background(), flvBody(t, m))
	if err != nil {
		t.Fatal(err)
	}
	return o.(*model.ServiceProfile)
}

func (s *Service) flvBind(t *testing.T, fid, pid string) {
	t.Helper()
	if _, err := s.BindFlavorProfile(context.Background(), fid, flvBody(t, map[string]any{"id": pid})); err != nil {
		t.Fatal(err)
	}
}

func wantNeutron(t *testing.T, err error, status int, typ string) {
	t.Helper()
	e, ok := neutron.As(err)
	if !ok || e.Status != status || e.Type != typ {
		t.Fatalf("want %d %s, got %v", status, typ, err)
	}
}

func TestFlavorProfileResolution(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Providers = append(cfg.Providers,
		l3.Provider{ServiceType: l3.ServiceType, Name: "ext", Driver: "external"},
		l3.Provider{ServiceType: "VPN", Name: "vpn", Driver: "vpn-driver", Default: true})
	s := flvService(t, cfg)

	_, _, err := s.FlavorProfile("00000000-0000-0000-0000-000000000000")
	wantNeutron(t, err, 404, "FlavorNotFound")

	f := s.flvFlavor(t, map[string]any{"name": "f", "service_type": l3.ServiceType})
	_, _, err = s.FlavorProfile(f.ID)
	wantNeutron(t, err, 404, "FlavorServiceProfileBindingNotFound")

	ext := s.flvProfile(t, map[string]any{"driver": "external"})
	routed := s.flvProfile(t, map[string]any{"driver": "routed"})
	s.flvBind(t, f.ID, ext.ID)
	s.flvBind(t, f.ID, routed.ID)
	gf, gp, err := s.FlavorProfile(f.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The first binding is used, whatever the ids' order.
	if gp.ID != ext.ID || gf.ID != f.ID || len(gf.ServiceProfiles) != 2 || gf.ServiceProfiles[0] != ext.ID || len(gp.Flavors) != 1 {
		t.Fatalf("resolved %+v %+v", gf, gp)
	}
	if p, ok := s.ProviderFor(gp.Driver); !ok || p.Name != "ext" {
		t.Fatalf("ProviderFor(%s) = %+v %v", gp.Driver, p, ok)
	}

	disabled := s.flvFlavor(t, map[string]any{"service_type": l3.ServiceType})
	dp := s.flvProfile(t, map[string]any{"driver": "routed", "enabled": false})
	s.flvBind(t, disabled.ID, dp.ID)
	_, _, err = s.FlavorProfile(disabled.ID)
	wantNeutron(t, err, 503, "ServiceProfileDisabled")

	meta := s.flvFlavor(t, map[string]any{"service_type": l3.ServiceType})
	mp := s.flvProfile(t, map[string]any{"metainfo": "m"})
	s.flvBind(t, meta.ID, mp.ID)
	_, _, err = s.FlavorProfile(meta.ID)
	wantNeutron(t, err, 404, "ServiceProfileDriverNotFound")

	vpn := s.flvFlavor(t, map[string]any{"service_type": l3.ServiceType})
	vp := s.flvProfile(t, map[string]any{"driver": "vpn-driver"})
	s.flvBind(t, vpn.ID, vp.ID)
	_, _, err = s.FlavorProfile(vpn.ID)
	wantNeutron(t, err, 400, "InvalidInput")

	off := s.flvFlavor(t, map[string]any{"name": "off", "service_type": l3.ServiceType, "enabled": false})
	s.flvBind(t, off.ID, routed.ID)
	_, _, err = s.FlavorProfile(off.ID)
	wantNeutron(t, err, 400, "InvalidInput")
	if !strings.Contains(err.Error(), "off ("+off.ID+")") {
		t.Errorf("message does not name the flavor: %v", err)
	}
	typed := s.flvFlavor(t, map[string]any{"service_type": "FLAVORS"})
	s.flvBind(t, typed.ID, routed.ID)
	_, _, err = s.FlavorProfile(typed.ID)
	wantNeutron(t, err, 400, "InvalidInput")

	if p, ok := s.DefaultProvider(l3.ServiceType); !ok || p.Name != "routed" {
		t.Fatalf("DefaultProvider(L3) = %+v %v", p, ok)
	}
	if p, ok := s.DefaultProvider("VPN"); !ok || p.Name != "vpn" {
		t.Fatalf("DefaultProvider(VPN) = %+v %v", p, ok)
	}
	if _, ok := s.DefaultProvider("LOADBALANCERV2"); ok {
		t.Fatal("default provider for an unknown type")
	}
	for _, d := range []string{"", "route", "routedx", "Routed"} {
		if _, ok := s.ProviderFor(d); ok {
			t.Fatalf("ProviderFor(%q) matched", d)
		}
	}
}

// TestFlavorBindingRaces: a binding made concurrently with the deletion of
// its flavor or profile never outlives either.
func TestFlavorBindingRaces(t *testing.T) {
	s := flvService(t, DefaultConfig())
	ctx := context.Background()
	for i := range 15 {
		f := s.flvFlavor(t, map[string]any{"service_type": l3.ServiceType})
		p := s.flvProfile(t, map[string]any{"driver": "routed"})
		var wg sync.WaitGroup
		var bindErr, delErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, bindErr = s.BindFlavorProfile(ctx, f.ID, Body{"id": json.RawMessage(`"` + p.ID + `"`)})
		}()
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				delErr = s.deleteProfile(ctx, p.ID, nil)
			} else {
				delErr = s.deleteFlavor(ctx, f.ID, nil)
			}
		}()
		wg.Wait()
		_, fok := s.cache.Get("flavor", f.ID)
		_, pok := s.cache.Get("service_profile", p.ID)
		_, bound := s.cache.Claim(s.bindingKey(f.ID, p.ID))
		switch {
		case i%2 == 0 && bindErr == nil:
			// bound first: the profile delete must have been refused
			wantNeutron(t, delErr, 409, "ServiceProfileInUse")
			if !pok || !bound {
				t.Fatalf("round %d: profile %v bound %v", i, pok, bound)
			}
		case i%2 == 0:
			wantNeutron(t, bindErr, 404, "ServiceProfileNotFound")
			if delErr != nil || pok || bound {
				t.Fatalf("round %d: delete %v, profile %v, bound %v", i, delErr, pok, bound)
			}
		default:
			if delErr != nil {
				t.Fatalf("round %d: flavor delete: %v", i, delErr)
			}
			if bindErr != nil {
				wantNeutron(t, bindErr, 404, "FlavorNotFound")
			}
			if fok || bound {
				t.Fatalf("round %d: flavor %v, bound %v (bind err %v)", i, fok, bound, bindErr)
			}
		}
	}
}

// TestGuardFlavor: a change guarded by GuardFlavor fails if the flavor is
// deleted before it commits.
func TestGuardFlavor(t *testing.T) {
	s := flvService(t, DefaultConfig())
	ctx := context.Background()
	f := s.flvFlavor(t, map[string]any{"service_type": l3.ServiceType})
	ch := &store.Change{}
	if err := s.GuardFlavor(ch, f.ID); err != nil {
		t.Fatal(err)
	}
	ch.Create(s.store.ClaimKey("test", "x"), []byte("x"))
	if err := s.deleteFlavor(ctx, f.ID, nil); err != nil {
		t.Fatal(err)
	}
	var conflict *store.ConflictError
	if _, err := s.store.Apply(ctx, ch); !errors.As(err, &conflict) {
		t.Fatalf("guarded change applied after the flavor was deleted: %v", err)
	}
	wantNeutron(t, s.GuardFlavor(&store.Change{}, f.ID), 404, "FlavorNotFound")
}
