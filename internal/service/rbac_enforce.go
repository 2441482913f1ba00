package service

import (
	"context"

	"github.com/spinel-net/spinel/internal/auth"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/policy"
)

// Authorization. Every decision of the form "may this caller do that" is
// the policy engine's (internal/policy), asked with Neutron's action
// names; what remains here is what Neutron decides outside its policy
// files:
//
//   - scope: which resources a project sees at all (Neutron's database
//     query filters): its own, networks shared with it or usable by it as
//     external networks through RBAC entries, and what Resource.Visible
//     adds; admins see every project's;
//   - the order of answers: a resource the caller may not get is 404, as
//     if it did not exist; a refused write on one it may get is 403;
//   - the ownership check on ports and subnets (checkNetworkUse).

// WithPolicy sets the policy engine (default: Neutron's default rules).
func WithPolicy(e *policy.Engine) Option {
	return func(s *Service) { s.policy = e }
}

// Policy returns the service's policy engine.
func (s *Service) Policy() *policy.Engine { return s.policy }

// creds returns the credentials of the caller in ctx.
func (s *Service) creds(ctx context.Context) *policy.Creds {
	id := auth.From(ctx)
	return s.policy.Creds(policy.Subject{
		ProjectID: id.ProjectID, UserID: id.UserID, Roles: id.Roles,
		ProjectName: id.ProjectName, ProjectDomainID: id.ProjectDomainID,
		UserName: id.UserName, UserDomainID: id.UserDomainID,
	})
}

// authorize enforces action on t and the attribute rules that attrs (see
// model.PolicyAttrs) bring into play, those that exist: 403
// PolicyNotAuthorized naming the first rule that fails.
func (s *Service) authorize(c *policy.Creds, action string, t policy.Target, attrs []string) error {
	if !s.policy.Enforce(action, t, c) {
		return neutron.Forbidden(action)
	}
	for _, a := range attrs {
		rule := action + ":" + a
		if s.policy.Has(rule) && !s.policy.Enforce(rule, t, c) {
			return neutron.Forbidden(rule)
		}
	}
	return nil
}

// target is a resource as policy rules see it. Besides the resource's own
// attributes it answers "network:tenant_id" (the owner of its network),
// "security_group:tenant_id" (a rule's group's owner) and "shared"
// (whether its network is shared with the caller, as Neutron computes it
// per request from RBAC entries).
type target struct {
	s      *Service
	obj    model.Object
	caller string // the caller's project
	net    *model.Network
	netSet bool
}

func (s *Service) target(c *policy.Creds, obj model.Object) *target {
	return &target{s: s, obj: obj, caller: c.ProjectID}
}

// reset points t at another object (lists reuse one target).
func (t *target) reset(obj model.Object) {
	t.obj, t.net, t.netSet = obj, nil, false
}

// network returns the network the target is or belongs to, or nil.
func (t *target) network() *model.Network {
	if t.netSet {
		return t.net
	}
	t.netSet = true
	id := ""
	switch o := t.obj.(type) {
	case *model.Network:
		t.net = o
		return o
	case *model.Port:
		id = o.NetworkID
	case *model.Subnet:
		id = o.NetworkID
	case *model.RBACPolicy:
		if o.ObjectType == "network" {
			id = o.ObjectID
		}
	}
	if id != "" {
		if e, ok := t.s.cache.Get("network", id); ok {
			t.net = e.Obj.(*model.Network)
		}
	}
	return t.net
}

// Get implements policy.Target.
func (t *target) Get(key string) (string, bool) {
	switch key {
	case "project_id", "tenant_id":
		return t.obj.GetProjectID(), true
	case "network:tenant_id", "network:project_id":
		if n := t.network(); n != nil {
			return n.ProjectID, true
		}
		return "", false
	case "security_group:tenant_id", "security_group:project_id":
		if r, ok := t.obj.(*model.SecurityGroupRule); ok {
			if sg, ok := t.s.cache.Get("security_group", r.SecurityGroupID); ok {
				return sg.Obj.GetProjectID(), true
			}
		}
		return "", false
	case "shared":
		switch o := t.obj.(type) {
		case *model.SecurityGroup:
			return pyBool(o.Shared), true
		case *model.Network, *model.Port, *model.Subnet:
			if n := t.network(); n != nil {
				return pyBool(t.s.sharedWith(n, t.caller)), true
			}
			return "", false
		}
	case "target_project":
		if p, ok := t.obj.(*model.RBACPolicy); ok {
			return p.TargetTenant, true
		}
	}
	return model.PolicyValue(t.obj, key)
}

// readable reports whether the caller sees obj (scope) and may get it
// (the get_<resource> rule).
func (s *Service) readable(r *Resource, c *policy.Creds, obj model.Object) bool {
	return s.visible(r, c, obj) && s.policy.Enforce("get_"+r.Singular, s.target(c, obj), c)
}

// Viewer decides which attributes of one collection's resources a caller
// may see: those whose get_<resource>:<attribute> rule, where there is
// one, allows it (Neutron's _exclude_attributes_by_policy). A Viewer
// serves one request: it is not safe for concurrent use.
type Viewer struct {
	s     *Service
	c     *policy.Creds
	t     *target  // reused for every object
	rules []string // get_<resource>:<attr> rules that exist
	names []string // their attributes
}

// Viewer returns the attribute filter of r for the caller in ctx.
func (s *Service) Viewer(ctx context.Context, r *Resource) *Viewer {
	c := s.creds(ctx)
	v := &Viewer{s: s, c: c, t: s.target(c, nil)}
	for _, f := range model.SchemaOf(r.Kind.New()).Fields {
		if rule := "get_" + r.Singular + ":" + f.Name; s.policy.Has(rule) {
			v.rules = append(v.rules, rule)
			v.names = append(v.names, f.Name)
		}
	}
	return v
}

// Hidden returns the attributes of obj the caller may not see (nil if
// none: the common case for admins).
func (v *Viewer) Hidden(obj model.Object) []string {
	if len(v.rules) == 0 {
		return nil
	}
	v.t.reset(obj)
	var out []string
	for i, rule := range v.rules {
		if !v.s.policy.Enforce(rule, v.t, v.c) {
			out = append(out, v.names[i])
		}
	}
	return out
}

// checkNetworkUse is Neutron's OwnershipValidationHook for a new port or
// subnet of project on network netID: a non-admin must see the network
// (404 NetworkNotFound) and own it, or have it shared with it (403).
func (s *Service) checkNetworkUse(c *policy.Creds, netID, project, kind string) error {
	if c.IsAdmin() || c.HasRole("advsvc") {
		return nil
	}
	ne, ok := s.cache.Get("network", netID)
	if !ok || !s.visible(s.kinds["network"], c, ne.Obj) {
		return neutron.ResourceNotFound("network", netID)
	}
	n := ne.Obj.(*model.Network)
	if s.sharedWith(n, c.ProjectID) || n.ProjectID == project {
		return nil
	}
	return neutron.Newf(403, "HTTPForbidden", "Tenant %s not allowed to create %s on this network", project, kind)
}
