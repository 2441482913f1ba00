package service

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/policy"
	"github.com/spinel-net/spinel/internal/store"
)

// Flavors and service profiles (Neutron's "flavors" extension).
//
// Both are admin objects without a project. Flavors are readable by
// everyone, service profiles by admins only. A binding of a profile to a
// flavor is a claim (space "flavor-profile", value "<flavor>/<profile>")
// owned by the flavor, so that it goes away with the flavor; its etcd
// creation revision gives the binding order, and the first binding is the
// one a router of the flavor uses. Writes that depend on a flavor or
// profile staying as read (a new binding; a router created with a flavor,
// see GuardFlavor) rewrite that document unchanged at the revision read,
// so that a concurrent delete or update of it makes one of them retry.

// FlavorServiceTypes are the service types a flavor may have: those of
// spinel's service plugins (Neutron accepts any loaded plugin's type).
var FlavorServiceTypes = []string{l3.ServiceType, "FLAVORS"}

// bindingSpace is the claim space of flavor/profile bindings.
const bindingSpace = "flavor-profile"

func (s *Service) flavorResource() *Resource {
	return &Resource{
		Kind:     &cache.Kind{Name: "flavor", New: func() model.Object { return &model.Flavor{} }},
		Singular: "flavor", Plural: "flavors",
		Visible:  func(*policy.Creds, model.Object) bool { return true }, // get_flavor decides
		Decorate: s.decorateFlavor,
		Create:   s.createFlavor,
		Update:   s.updateFlavor,
		Delete:   s.deleteFlavor,
	}
}

func (s *Service) serviceProfileResource() *Resource {
	return &Resource{
		Kind:     &cache.Kind{Name: "service_profile", New: func() model.Object { return &model.ServiceProfile{} }},
		Singular: "service_profile", Plural: "service_profiles",
		Visible:  func(*policy.Creds, model.Object) bool { return true }, // get_service_profile decides
		Decorate: s.decorateProfile,
		Create:   s.createProfile,
		Update:   s.updateProfile,
		Delete:   s.deleteProfile,
	}
}

// ---- errors, worded as neutron_lib.exceptions.flavors ----

func errFlavorInUse(id string) error {
	return neutron.Conflict("FlavorInUse", "Flavor %s is used by some service instance.", id)
}

func errProfileInUse(id string) error {
	return neutron.Conflict("ServiceProfileInUse", "Service Profile %s is used by some service instance.", id)
}

func errBindingExists(fid, pid string) error {
	return neutron.Conflict("FlavorServiceProfileBindingExists", "Service Profile %s is already associated with flavor %s.", pid, fid)
}

func errBindingNotFound(fid, pid string) error {
	return neutron.NotFound("FlavorServiceProfileBindingNotFound", "Service Profile %s is not associated with flavor %s.", pid, fid)
}

func errDriverNotFound(driver string) error {
	return neutron.NotFound("ServiceProfileDriverNotFound", "Service Profile driver %s could not be found.", driver)
}

func errProfileEmpty() error {
	return neutron.Newf(400, "ServiceProfileEmpty", "Service Profile needs either a driver or metainfo.")
}

// ---- bindings ----

func (s *Service) bindingKey(fid, pid string) string {
	return s.store.ClaimKey(bindingSpace, fid+"/"+pid)
}

type binding struct {
	id  string // the other side: profile id (of a flavor) or flavor id (of a profile)
	rev int64  // creation revision of the binding claim
}

func sortBindings(bs []binding) []string {
	slices.SortFunc(bs, func(a, b binding) int {
		return cmp.Or(cmp.Compare(a.rev, b.rev), strings.Compare(a.id, b.id))
	})
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.id
	}
	return out
}

// flavorProfileIDs returns the profiles bound to flavor fid, in binding order.
func (s *Service) flavorProfileIDs(fid string) []string {
	prefix := s.bindingKey(fid, "")
	var bs []binding
	for key, rev := range s.cache.ClaimsOf(string(owner("flavor", fid))) {
		if pid, ok := strings.CutPrefix(key, prefix); ok {
			bs = append(bs, binding{pid, rev})
		}
	}
	return sortBindings(bs)
}

// profileFlavorIDs returns the flavors profile pid is bound to, in binding order.
func (s *Service) profileFlavorIDs(pid string) []string {
	var fids []string
	s.cache.List("flavor", func(e *cache.Entry) bool {
		fids = append(fids, e.Obj.GetID())
		return true
	})
	var bs []binding
	for _, fid := range fids {
		if cl, ok := s.cache.Claim(s.bindingKey(fid, pid)); ok {
			bs = append(bs, binding{fid, cl.ModRev})
		}
	}
	return sortBindings(bs)
}

// guardEntry makes ch fail unless e is still at the revision read, by
// rewriting it unchanged.
func (s *Service) guardEntry(ch *store.Change, e *cache.Entry) {
	key := s.store.ResourceKey(e.Kind.Name, e.Obj.GetID())
	if !ch.Touches(key) {
		ch.Put(key, e.Raw, e.ModRev)
	}
}

// GuardFlavor adds to ch a guard that flavor id still exists, unchanged,
// when ch commits (404 FlavorNotFound if it is gone already). A router
// created with a flavor must include it, so that a concurrent flavor
// delete cannot miss the router (it would otherwise succeed and leave the
// router with a dangling flavor_id).
func (s *Service) GuardFlavor(ch *store.Change, id string) error {
	e, ok := s.cache.Get("flavor", id)
	if !ok {
		return neutron.ResourceNotFound("flavor", id)
	}
	s.guardEntry(ch, e)
	return nil
}

// ---- request bodies ----

// cleanBody prepares a flavor or profile body for model.Decode: Neutron
// accepts tenant_id and project_id on create (then drops them: these
// objects have no project) and a null description.
func cleanBody(body Body, op model.Op) (Body, error) {
	out := Body{}
	for k, v := range body {
		switch k {
		case "tenant_id", "project_id":
			if op == model.Update {
				return nil, neutron.BadRequest("Cannot update read-only attribute %s", k)
			}
			var str *string
			if err := json.Unmarshal(v, &str); err != nil {
				return nil, neutron.InvalidAttribute(k, sprintf("'%s' is not a valid string", truncateRaw(v)))
			}
			if str != nil && len(*str) > 255 {
				return nil, neutron.InvalidAttribute(k, sprintf("'%s' exceeds maximum length of 255", *str))
			}
			continue
		case "description":
			if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
				v = json.RawMessage(`""`)
			}
		}
		out[k] = v
	}
	return out, nil
}

func truncateRaw(raw json.RawMessage) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// validateUUIDList checks a list attribute whose items must be UUIDs.
func validateUUIDList(attr string, ids []string) error {
	for _, id := range ids {
		if uuid.Validate(id) != nil {
			return neutron.InvalidAttribute(attr, sprintf("'%s' is not a valid UUID", id))
		}
	}
	return nil
}

// ---- flavors ----

func (s *Service) decorateFlavor(o model.Object) model.Object {
	f := *o.(*model.Flavor)
	f.ServiceProfiles = s.flavorProfileIDs(f.ID)
	return &f
}

func (s *Service) createFlavor(ctx context.Context, body Body) (model.Object, error) {
	c := s.creds(ctx)
	if err := s.authorize(c, "create_flavor", s.target(c, &model.Flavor{}), nil); err != nil {
		return nil, err
	}
	body, err := cleanBody(body, model.Create)
	if err != nil {
		return nil, err
	}
	f := &model.Flavor{}
	present, err := model.Decode(body, f, model.Create)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(c, "create_flavor", s.target(c, f), model.PolicyAttrs(body, f, model.Create)); err != nil {
		return nil, err
	}
	// service_profiles is accepted (and validated) but ignored, as in
	// Neutron: bindings are made through the sub-resource only.
	if err := validateUUIDList("service_profiles", f.ServiceProfiles); err != nil {
		return nil, err
	}
	f.ServiceProfiles = nil
	if !slices.Contains(FlavorServiceTypes, f.ServiceType) {
		return nil, neutron.Newf(400, "InvalidServiceType", "Invalid service type: %s.", f.ServiceType)
	}
	if !present.Has("enabled") {
		f.Enabled = true
	}
	f.ID = newID()
	err = s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		ch := &store.Change{}
		s.putNew(ch, "flavor", f)
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return s.decorateFlavor(f), nil
}

func (s *Service) updateFlavor(ctx context.Context, id string, body Body, _ *int64) (model.Object, error) {
	body, err := cleanBody(body, model.Update)
	if err != nil {
		return nil, err
	}
	var out *model.Flavor
	err = s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookupOwned(ctx, s.kinds["flavor"], id, "update_flavor")
		if err != nil {
			return nil, err
		}
		f := e.Copy().(*model.Flavor)
		if _, err := model.Decode(body, f, model.Update); err != nil {
			return nil, err
		}
		c := s.creds(ctx)
		if err := s.authorize(c, "update_flavor", s.target(c, f), model.PolicyAttrs(body, f, model.Update)); err != nil {
			return nil, err
		}
		if err := validateUUIDList("service_profiles", f.ServiceProfiles); err != nil {
			return nil, err
		}
		f.ServiceProfiles = nil // ignored, as in Neutron
		ch := &store.Change{}
		s.putUpdate(ch, e, f)
		out = f
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return s.decorateFlavor(out), nil
}

// routersOfFlavor counts the routers created with flavor id.
func (s *Service) routersOfFlavor(id string) int {
	return s.cache.Count("router", func(e *cache.Entry) bool {
		r, ok := e.Obj.(*model.Router)
		return ok && r.FlavorID != nil && *r.FlavorID == id
	})
}

func (s *Service) deleteFlavor(ctx context.Context, id string, _ *int64) error {
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookupOwned(ctx, s.kinds["flavor"], id, "delete_flavor")
		if err != nil {
			return nil, err
		}
		if s.routersOfFlavor(id) > 0 {
			return nil, errFlavorInUse(id)
		}
		ch := &store.Change{}
		s.deleteWithClaims(ch, e) // and with it its bindings
		return ch, nil
	})
}

// ---- service profiles ----

func (s *Service) decorateProfile(o model.Object) model.Object {
	p := *o.(*model.ServiceProfile)
	p.Flavors = s.profileFlavorIDs(p.ID)
	return &p
}

// checkDriver requires a non-empty driver to be exactly the driver of a
// configured service provider (Neutron matches by substring).
func (s *Service) checkDriver(driver string) error {
	if _, ok := s.ProviderFor(driver); !ok {
		return errDriverNotFound(driver)
	}
	return nil
}

func (s *Service) createProfile(ctx context.Context, body Body) (model.Object, error) {
	c := s.creds(ctx)
	if err := s.authorize(c, "create_service_profile", s.target(c, &model.ServiceProfile{}), nil); err != nil {
		return nil, err
	}
	body, err := cleanBody(body, model.Create)
	if err != nil {
		return nil, err
	}
	p := &model.ServiceProfile{}
	present, err := model.Decode(body, p, model.Create)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(c, "create_service_profile", s.target(c, p), model.PolicyAttrs(body, p, model.Create)); err != nil {
		return nil, err
	}
	if p.Driver != "" {
		if err := s.checkDriver(p.Driver); err != nil {
			return nil, err
		}
	} else if p.Metainfo == "" {
		return nil, errProfileEmpty()
	}
	if !present.Has("enabled") {
		p.Enabled = true
	}
	p.ID = newID()
	err = s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		ch := &store.Change{}
		s.putNew(ch, "service_profile", p)
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return s.decorateProfile(p), nil
}

func (s *Service) updateProfile(ctx context.Context, id string, body Body, _ *int64) (model.Object, error) {
	body, err := cleanBody(body, model.Update)
	if err != nil {
		return nil, err
	}
	var out *model.ServiceProfile
	err = s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookupOwned(ctx, s.kinds["service_profile"], id, "update_service_profile")
		if err != nil {
			return nil, err
		}
		p := e.Copy().(*model.ServiceProfile)
		present, err := model.Decode(body, p, model.Update)
		if err != nil {
			return nil, err
		}
		c := s.creds(ctx)
		if err := s.authorize(c, "update_service_profile", s.target(c, p), model.PolicyAttrs(body, p, model.Update)); err != nil {
			return nil, err
		}
		if present.Has("driver") && p.Driver != "" {
			if err := s.checkDriver(p.Driver); err != nil {
				return nil, err
			}
		}
		if len(s.profileFlavorIDs(id)) > 0 {
			return nil, errProfileInUse(id)
		}
		if p.Driver == "" && p.Metainfo == "" {
			return nil, errProfileEmpty()
		}
		p.Flavors = nil
		ch := &store.Change{}
		s.putUpdate(ch, e, p)
		out = p
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return s.decorateProfile(out), nil
}

func (s *Service) deleteProfile(ctx context.Context, id string, _ *int64) error {
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookupOwned(ctx, s.kinds["service_profile"], id, "delete_service_profile")
		if err != nil {
			return nil, err
		}
		if len(s.profileFlavorIDs(id)) > 0 {
			return nil, errProfileInUse(id)
		}
		ch := &store.Change{}
		s.deleteWithClaims(ch, e)
		return ch, nil
	})
}

// ---- the flavor/profile association sub-resource ----

// BindFlavorProfile binds a service profile to flavor fid, from the body
// {"id": "<profile id>"} of POST /flavors/{fid}/service_profiles, and
// returns the profile id.
func (s *Service) BindFlavorProfile(ctx context.Context, fid string, body Body) (string, error) {
	if c := s.creds(ctx); !s.policy.Enforce("create_flavor_service_profile", s.target(c, &model.Flavor{ID: fid}), c) {
		return "", neutron.Forbidden("create_flavor_service_profile")
	}
	var pid string
	for k, v := range body {
		switch k {
		case "id":
			if err := json.Unmarshal(v, &pid); err != nil {
				return "", neutron.InvalidAttribute("id", sprintf("'%s' is not a valid UUID", truncateRaw(v)))
			}
		case "tenant_id", "project_id":
			// accepted and ignored, as in Neutron
		default:
			return "", neutron.BadRequest("Unrecognized attribute(s) '%s'", k)
		}
	}
	if _, ok := body["id"]; !ok {
		return "", neutron.BadRequest("Failed to parse request. Required attribute 'id' not specified")
	}
	if err := validateUUIDList("id", []string{pid}); err != nil {
		return "", err
	}
	err := s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		fe, ok := s.cache.Get("flavor", fid)
		if !ok {
			return nil, neutron.ResourceNotFound("flavor", fid)
		}
		pe, ok := s.cache.Get("service_profile", pid)
		if !ok {
			return nil, neutron.ResourceNotFound("service_profile", pid)
		}
		key := s.bindingKey(fid, pid)
		if _, taken := s.cache.Claim(key); taken {
			return nil, errBindingExists(fid, pid)
		}
		ch := &store.Change{}
		claim(ch, key, "flavor", fid)
		// Neither may be deleted, nor the profile changed, meanwhile.
		s.guardEntry(ch, fe)
		s.guardEntry(ch, pe)
		return ch, nil
	})
	if err != nil {
		return "", err
	}
	return pid, nil
}

// UnbindFlavorProfile removes the binding of profile pid to flavor fid.
func (s *Service) UnbindFlavorProfile(ctx context.Context, fid, pid string) error {
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		key := s.bindingKey(fid, pid)
		cl, ok := s.cache.Claim(key)
		if !ok {
			return nil, errBindingNotFound(fid, pid)
		}
		if c := s.creds(ctx); !s.policy.Enforce("delete_flavor_service_profile", s.target(c, &model.Flavor{ID: fid}), c) {
			return nil, neutron.Forbidden("delete_flavor_service_profile")
		}
		ch := &store.Change{}
		ch.Delete(key, cl.ModRev)
		return ch, nil
	})
}

// FlavorProfileBound returns nil if profile pid is bound to flavor fid,
// else 404 FlavorServiceProfileBindingNotFound.
func (s *Service) FlavorProfileBound(_ context.Context, fid, pid string) error {
	if _, ok := s.cache.Claim(s.bindingKey(fid, pid)); !ok {
		return errBindingNotFound(fid, pid)
	}
	return nil
}

// FlavorProfileIDs returns the ids of the profiles bound to flavor fid,
// in binding order (404 FlavorNotFound if there is no such flavor).
func (s *Service) FlavorProfileIDs(_ context.Context, fid string) ([]string, error) {
	if _, ok := s.cache.Get("flavor", fid); !ok {
		return nil, neutron.ResourceNotFound("flavor", fid)
	}
	return s.flavorProfileIDs(fid), nil
}

// ---- provider selection ----

// flavorLabel names a flavor in messages: "name (id)" or just the id.
func flavorLabel(f *model.Flavor) string {
	if f.Name == "" {
		return f.ID
	}
	return f.Name + " (" + f.ID + ")"
}

// FlavorProfile resolves an L3 flavor to the service profile its routers
// use: the flavor (404 FlavorNotFound), which must be of service type
// L3_ROUTER_NAT and enabled (400 InvalidInput otherwise; Neutron checks
// neither), its first bound profile (404 FlavorServiceProfileBindingNotFound),
// which must be enabled (503 ServiceProfileDisabled) and name the driver of
// a configured L3_ROUTER_NAT provider (404 ServiceProfileDriverNotFound; 400
// if the provider is of another service type). The objects returned are
// private copies, with their computed attributes filled in.
func (s *Service) FlavorProfile(flavorID string) (*model.Flavor, *model.ServiceProfile, error) {
	fe, ok := s.cache.Get("flavor", flavorID)
	if !ok {
		return nil, nil, neutron.ResourceNotFound("flavor", flavorID)
	}
	f := s.decorateFlavor(fe.Obj).(*model.Flavor)
	if f.ServiceType != l3.ServiceType {
		return nil, nil, neutron.InvalidInput("flavor %s has service type %s, not %s", flavorLabel(f), f.ServiceType, l3.ServiceType)
	}
	if !f.Enabled {
		return nil, nil, neutron.InvalidInput("flavor %s is disabled", flavorLabel(f))
	}
	if len(f.ServiceProfiles) == 0 {
		return nil, nil, neutron.NotFound("FlavorServiceProfileBindingNotFound", "No service profile is associated with flavor %s.", flavorLabel(f))
	}
	pid := f.ServiceProfiles[0]
	pe, ok := s.cache.Get("service_profile", pid)
	if !ok {
		return nil, nil, neutron.ResourceNotFound("service_profile", pid)
	}
	p := s.decorateProfile(pe.Obj).(*model.ServiceProfile)
	if !p.Enabled {
		return nil, nil, neutron.Newf(503, "ServiceProfileDisabled", "Service Profile is not enabled.")
	}
	prov, ok := s.ProviderFor(p.Driver)
	if !ok {
		return nil, nil, errDriverNotFound(p.Driver)
	}
	if prov.ServiceType != l3.ServiceType {
		return nil, nil, neutron.InvalidInput("service profile %s of flavor %s names driver %s of service type %s, not %s",
			p.ID, flavorLabel(f), p.Driver, prov.ServiceType, l3.ServiceType)
	}
	return f, p, nil
}

// ProviderFor returns the configured service provider whose driver is
// exactly driver (of any service type).
func (s *Service) ProviderFor(driver string) (l3.Provider, bool) {
	if driver == "" {
		return l3.Provider{}, false
	}
	for _, p := range s.cfg.Providers {
		if p.Driver == driver {
			return p, true
		}
	}
	return l3.Provider{}, false
}

// DefaultProvider returns the default provider of a service type.
func (s *Service) DefaultProvider(serviceType string) (l3.Provider, bool) {
	for _, p := range s.cfg.Providers {
		if p.ServiceType == serviceType && p.Default {
			return p, true
		}
	}
	return l3.Provider{}, false
}

// ---- service providers ----

// ServiceProvider is a configured provider as GET /service-providers
// shows it (the driver is not shown).
type ServiceProvider struct {
	ServiceType string `json:"service_type" attr:""`
	Name        string `json:"name" attr:""`
	Default     bool   `json:"default" attr:""`
}

// GetID implements model.Object (the pagination marker).
func (p *ServiceProvider) GetID() string { return p.ServiceType + ":" + p.Name }

// GetProjectID implements model.Object; providers belong to no project.
func (p *ServiceProvider) GetProjectID() string { return "" }

// ServiceProviders returns the configured service providers, in
// configuration order, those the get_service_provider rule lets the
// caller see (by default: any reader).
func (s *Service) ServiceProviders(ctx context.Context) []model.Object {
	c := s.creds(ctx)
	out := make([]model.Object, 0, len(s.cfg.Providers))
	for _, p := range s.cfg.Providers {
		sp := &ServiceProvider{ServiceType: p.ServiceType, Name: p.Name, Default: p.Default}
		if s.policy.Enforce("get_service_provider", s.target(c, sp), c) {
			out = append(out, sp)
		}
	}
	return out
}
