package service

import (
	"context"
	"maps"

	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/l3/routed"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/store"
)

// natPlanKind holds the routed driver's per-host NAT plans.
var natPlanKind = &cache.Kind{Name: "natplan", New: func() model.Object { return &routed.NATPlan{} },
	Indexes: map[string]func(model.Object) []string{
		"router": func(o model.Object) []string { return []string{o.(*routed.NATPlan).RouterID} },
		"host": func(o model.Object) []string {
			if h := o.(*routed.NATPlan).Host; h != "" {
				return []string{h}
			}
			return nil
		},
	}}

// routerTombstone records a router deleted through the API until its
// backend has deleted it too (see reconciler): written in the deletion's
// own transaction, so no deletion is lost with a reconciler's memory.
type routerTombstone struct {
	ID        string                `json:"id"`
	Provider  string                `json:"provider"`
	Profile   *model.ServiceProfile `json:"profile,omitempty"`
	DeletedAt string                `json:"deleted_at"`
}

// GetID implements model.Object.
func (t *routerTombstone) GetID() string { return t.ID }

// GetProjectID implements model.Object; tombstones belong to no project.
func (t *routerTombstone) GetProjectID() string { return "" }

var tombstoneKind = &cache.Kind{Name: "routertombstone", New: func() model.Object { return &routerTombstone{} }}

// DeletedRouter implements reconciler.State.
func (s *Service) DeletedRouter(id string) (string, *model.ServiceProfile, bool) {
	e, ok := s.cache.Get(tombstoneKind.Name, id)
	if !ok {
		return "", nil, false
	}
	t := e.Obj.(*routerTombstone)
	return t.Provider, t.Profile, true
}

// DeletedRouterIDs implements reconciler.State.
func (s *Service) DeletedRouterIDs() []string {
	var ids []string
	s.cache.List(tombstoneKind.Name, func(e *cache.Entry) bool {
		ids = append(ids, e.Obj.GetID())
		return true
	})
	return ids
}

// ForgetDeletedRouter implements reconciler.State.
func (s *Service) ForgetDeletedRouter(ctx context.Context, id string) error {
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		ch := &store.Change{}
		if e, ok := s.cache.Get(tombstoneKind.Name, id); ok {
			ch.Delete(s.store.ResourceKey(tombstoneKind.Name, id), e.ModRev)
		}
		return ch, nil
	})
}

// DesiredRouter implements reconciler.State.
func (s *Service) DesiredRouter(id string) (*l3.Router, string, bool) {
	e, ok := s.cache.Get("router", id)
	if !ok {
		return nil, "", false
	}
	r := e.Obj.(*model.Router)
	return s.desiredRouter(r), r.Provider, true
}

// RouterIDs implements reconciler.State.
func (s *Service) RouterIDs() []string {
	var ids []string
	s.cache.List("router", func(e *cache.Entry) bool {
		ids = append(ids, e.Obj.GetID())
		return true
	})
	return ids
}

// RecordStatus implements reconciler.State: it writes the router's and
// its floating IPs' status when they differ from what is stored.
func (s *Service) RecordStatus(ctx context.Context, id string, st l3.Status, syncErr error) error {
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		ch := &store.Change{}
		e, ok := s.cache.Get("router", id)
		if !ok {
			return ch, nil
		}
		r := e.Obj.(*model.Router)
		want := st.Router
		switch {
		case syncErr != nil:
			want = "ERROR"
		case !r.AdminStateUp:
			want = "DOWN"
		case want == "":
			want = "ACTIVE"
		}
		if r.Status != want {
			nr := e.Copy().(*model.Router)
			nr.Status = want
			s.bump(nr)
			s.putUpdate(ch, e, nr)
		}
		for _, fe := range s.cache.ByIndex("floatingip", "router", id) {
			f := fe.Obj.(*model.FloatingIP)
			fs := "DOWN"
			if f.PortID != nil {
				switch {
				case syncErr != nil:
					fs = "ERROR"
				case st.FloatingIPs[f.ID] != "":
					fs = st.FloatingIPs[f.ID]
				}
			}
			if f.Status != fs {
				nf := fe.Copy().(*model.FloatingIP)
				nf.Status = fs
				s.bump(nf)
				s.putUpdate(ch, fe, nf)
			}
		}
		return ch, nil
	})
}

// SetNATPlans implements routed.PlanStore.
func (s *Service) SetNATPlans(ctx context.Context, routerID string, plans []routed.NATPlan) error {
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		ch := &store.Change{}
		want := map[string]routed.NATPlan{}
		for _, p := range plans {
			want[p.ID] = p
		}
		for _, e := range s.cache.ByIndex("natplan", "router", routerID) {
			if _, keep := want[e.Obj.GetID()]; !keep {
				ch.Delete(s.store.ResourceKey("natplan", e.Obj.GetID()), e.ModRev)
			}
		}
		for _, id := range sortedKeys(want) {
			p := want[id]
			key := s.store.ResourceKey("natplan", id)
			if e, ok := s.cache.Get("natplan", id); ok {
				old := *e.Obj.(*routed.NATPlan)
				p.Realized = old.Realized
				if old == p {
					continue
				}
				p.Realized = false // changed: the agent must realise it anew
				ch.Put(key, encode(&p), e.ModRev)
			} else {
				ch.Create(key, encode(&p))
			}
		}
		return ch, nil
	})
}

// Realized implements routed.PlanStore.
func (s *Service) Realized(id string) bool {
	e, ok := s.cache.Get("natplan", id)
	return ok && e.Obj.(*routed.NATPlan).Realized
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range maps.Keys(m) {
		keys = append(keys, k)
	}
	slicesSort(keys)
	return keys
}

// OnRouterChange calls fn with the id of every router whose desired state
// a cache event may have changed. fn must not block.
func (s *Service) OnRouterChange(fn func(routerID string)) {
	s.cache.Subscribe(func(ev cache.Event) {
		switch ev.Kind {
		case "router":
			if o, n := asRouter(ev.Old), asRouter(ev.New); o != nil && n != nil && routerStatusOnly(o, n) {
				return
			}
			for _, o := range []model.Object{ev.Old, ev.New} {
				if o != nil {
					fn(o.GetID())
				}
			}
		case "floatingip":
			o, n := asFIP(ev.Old), asFIP(ev.New)
			if o != nil && n != nil && fipStatusOnly(o, n) {
				return
			}
			for _, f := range []*model.FloatingIP{o, n} {
				if f != nil && f.RouterID != nil {
					fn(*f.RouterID)
				}
			}
		case "port":
			for _, o := range []model.Object{ev.Old, ev.New} {
				if o == nil {
					continue
				}
				p := o.(*model.Port)
				if isL3Port(p.DeviceOwner) && p.DeviceOwner != OwnerFloatingIP {
					fn(p.DeviceID)
				}
				for _, fe := range s.cache.ByIndex("floatingip", "port", p.ID) {
					if r := fe.Obj.(*model.FloatingIP).RouterID; r != nil {
						fn(*r)
					}
				}
			}
		case "natplan":
			for _, o := range []model.Object{ev.Old, ev.New} {
				if o != nil {
					fn(o.(*routed.NATPlan).RouterID)
				}
			}
		}
	})
}

func asRouter(o model.Object) *model.Router {
	r, _ := o.(*model.Router)
	return r
}

func asFIP(o model.Object) *model.FloatingIP {
	f, _ := o.(*model.FloatingIP)
	return f
}

// routerStatusOnly reports whether two versions of a router differ only in
// what the reconciler itself writes.
func routerStatusOnly(a, b *model.Router) bool {
	x, y := *a, *b
	x.Status, y.Status = "", ""
	x.RevisionNumber, y.RevisionNumber = 0, 0
	x.UpdatedAt, y.UpdatedAt = "", ""
	return string(encode(&x)) == string(encode(&y))
}

func fipStatusOnly(a, b *model.FloatingIP) bool {
	x, y := *a, *b
	x.Status, y.Status = "", ""
	x.RevisionNumber, y.RevisionNumber = 0, 0
	x.UpdatedAt, y.UpdatedAt = "", ""
	return string(encode(&x)) == string(encode(&y))
}
