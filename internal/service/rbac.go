package service

import (
	"context"
	"strings"

	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/policy"
	"github.com/spinel-net/spinel/internal/store"
)

// RBAC policies (/v2.0/rbac-policies, Neutron's rbac-policies extension)
// for networks, as neutron/db/rbac_db_mixin.py, db_base_plugin_v2.py and
// external_net_db.py define them.
//
// An entry grants a project (or "*", every project) access_as_shared (see
// the network, attach ports and subnets to it) or access_as_external (see
// it and use it as an external network: gateways, floating IPs). A
// network's shared attribute is the wildcard access_as_shared entry: a
// network created or updated with shared=true gets one, and loses it with
// shared=false; router:external=true likewise brings a wildcard
// access_as_external entry. As in Neutron, a caller sees shared=true on a
// network shared with its own project by a specific entry too.
//
// Entries are documents of kind rbac_policy, indexed in the watch cache by
// the object they grant access to, so that visibility checks read a
// network's few entries instead of scanning. Every change to an entry
// rewrites its network (new revision, as Neutron's revises_on_change), so
// that it is serialised with the network's other writes. A claim keeps
// (object, action, target) unique.

// rbacValidActions is how Neutron prints a network's valid actions.
const rbacValidActions = "('access_as_shared', 'access_as_external')"

func (s *Service) rbacResource() *Resource {
	return &Resource{
		Kind: &cache.Kind{Name: "rbac_policy", New: func() model.Object { return &model.RBACPolicy{} },
			Indexes: map[string]func(model.Object) []string{
				"project": byProject,
				"object":  func(o model.Object) []string { return []string{o.(*model.RBACPolicy).ObjectID} },
			}},
		Singular: "rbac_policy", Plural: "rbac_policies", Path: "rbac-policies",
		NotFound: func(id string) error {
			// Neutron looks the entry's type up first, among the entries
			// the caller sees: an unknown id has type "unknown".
			return neutron.NotFound("RbacPolicyNotFound", "RBAC policy of type unknown with ID %s not found", id)
		},
		Create: s.createRBAC,
		Update: s.updateRBAC,
		Delete: s.deleteRBAC,
	}
}

func (s *Service) rbacKey(p *model.RBACPolicy) string {
	return s.store.ClaimKey("rbac", p.ObjectType+"/"+p.ObjectID+"/"+p.Action+"/"+p.TargetTenant)
}

// rbacEntries returns the entries granting access to object id.
func (s *Service) rbacEntries(id string) []*model.RBACPolicy {
	es := s.cache.ByIndex("rbac_policy", "object", id)
	out := make([]*model.RBACPolicy, len(es))
	for i, e := range es {
		out[i] = e.Obj.(*model.RBACPolicy)
	}
	return out
}

// sharedWith reports whether network n is shared with project: by the
// wildcard entry (n.Shared) or an entry for that project.
func (s *Service) sharedWith(n *model.Network, project string) bool {
	if n.Shared {
		return true
	}
	for _, e := range s.cache.ByIndex("rbac_policy", "object", n.ID) {
		p := e.Obj.(*model.RBACPolicy)
		if p.Action == model.AccessAsShared && p.TargetTenant == project {
			return true
		}
	}
	return false
}

// networkVisible reports whether project sees network n: its own, or an
// entry (of either action) for it or for every project.
func (s *Service) networkVisible(n *model.Network, project string) bool {
	if n.ProjectID == project || n.Shared {
		return true
	}
	for _, e := range s.cache.ByIndex("rbac_policy", "object", n.ID) {
		if t := e.Obj.(*model.RBACPolicy).TargetTenant; t == project || t == "*" {
			return true
		}
	}
	return false
}

// hasRBAC reports whether network id has an entry for action and target.
func (s *Service) hasRBAC(id, action, target string) bool {
	for _, p := range s.rbacEntries(id) {
		if p.Action == action && p.TargetTenant == target {
			return true
		}
	}
	return false
}

// addRBAC adds to ch an entry of network n's own project granting action
// to target (the wildcard entries that shared and router:external stand for).
func (s *Service) addRBAC(ch *store.Change, reserved *[]string, n *model.Network, action, target string) error {
	p := &model.RBACPolicy{ID: newID(), ProjectID: n.ProjectID, TenantID: n.ProjectID,
		ObjectType: "network", ObjectID: n.ID, Action: action, TargetTenant: target}
	key := s.rbacKey(p)
	if _, taken := s.cache.Claim(key); taken {
		return nil
	}
	if !s.reserve(reserved, key) {
		return errRetry
	}
	claim(ch, key, "rbac_policy", p.ID)
	s.putNew(ch, "rbac_policy", p)
	return nil
}

// deleteRBAC adds to ch the removal of network id's entries for action
// (and target, unless target is "").
func (s *Service) deleteRBACEntries(ch *store.Change, id, action, target string) {
	for _, e := range s.cache.ByIndex("rbac_policy", "object", id) {
		p := e.Obj.(*model.RBACPolicy)
		if p.Action == action && (target == "" || p.TargetTenant == target) {
			s.deleteWithClaims(ch, e)
		}
	}
}

// errRBACInUse is Neutron's RbacPolicyInUse (409).
func errRBACInUse(object, details string) error {
	return neutron.Conflict("RbacPolicyInUse", "RBAC policy on object %s cannot be removed because other objects depend on it.\nDetails: %s", object, details)
}

func errNotNetworkOwner() *neutron.Error {
	return neutron.InvalidInput("Only admins can manipulate policies on networks they do not own")
}

func (s *Service) createRBAC(ctx context.Context, body Body) (model.Object, error) {
	c := s.creds(ctx)
	p := &model.RBACPolicy{}
	present, err := model.Decode(body, p, model.Create)
	if err != nil {
		return nil, err
	}
	if ot := strings.ToLower(strings.TrimSpace(p.ObjectType)); ot != "network" {
		// Neutron knows other object types; spinel shares networks only.
		return nil, neutron.InvalidInput("'%s' is not a valid RBAC object type", p.ObjectType)
	}
	p.ObjectType = "network"
	if err := validateUUIDList("object_id", []string{p.ObjectID}); err != nil {
		return nil, err
	}
	if err := setProject(c, present, &p.ProjectID, &p.TenantID); err != nil {
		return nil, err
	}
	if err := s.authorize(c, "create_rbac_policy", s.target(c, p), model.PolicyAttrs(body, p, model.Create)); err != nil {
		return nil, err
	}
	if p.Action != model.AccessAsShared && p.Action != model.AccessAsExternal {
		return nil, neutron.Newf(400, "InvalidActionForType", "Invalid action '%s' for object type '%s'. Valid actions: %s", p.Action, p.ObjectType, rbacValidActions)
	}
	p.ID = newID()
	err = s.commit(ctx, func(reserved *[]string) (*store.Change, error) {
		ne, ok := s.cache.Get("network", p.ObjectID)
		if !ok || !s.visible(s.kinds["network"], c, ne.Obj) {
			return nil, neutron.InvalidInput("Network %s could not be found", p.ObjectID)
		}
		if !c.IsAdmin() && ne.Obj.GetProjectID() != c.ProjectID {
			return nil, errNotNetworkOwner()
		}
		key := s.rbacKey(p)
		if _, taken := s.cache.Claim(key); taken {
			return nil, neutron.Conflict("DuplicateRbacPolicy", "An RBAC policy already exists with those values.")
		}
		if !s.reserve(reserved, key) {
			return nil, errRetry
		}
		ch := &store.Change{}
		claim(ch, key, "rbac_policy", p.ID)
		s.putNew(ch, "rbac_policy", p)
		n := ne.Copy().(*model.Network)
		if p.Action == model.AccessAsShared && p.TargetTenant == "*" {
			n.Shared = true
		}
		if p.Action == model.AccessAsExternal {
			// Sharing a network as external makes it external (without
			// the wildcard entry router:external=true would bring).
			n.RouterExternal = true
		}
		s.bump(n)
		s.putUpdate(ch, ne, n)
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Service) updateRBAC(ctx context.Context, id string, body Body, _ *int64) (model.Object, error) {
	c := s.creds(ctx)
	var out *model.RBACPolicy
	err := s.commit(ctx, func(reserved *[]string) (*store.Change, error) {
		e, err := s.lookup(ctx, s.kinds["rbac_policy"], id)
		if err != nil {
			return nil, err
		}
		old := e.Obj.(*model.RBACPolicy)
		p := e.Copy().(*model.RBACPolicy)
		if _, err := model.Decode(body, p, model.Update); err != nil {
			return nil, err
		}
		if err := s.authorize(c, "update_rbac_policy", s.target(c, p), model.PolicyAttrs(body, p, model.Update)); err != nil {
			return nil, err
		}
		ne, ok := s.cache.Get("network", p.ObjectID)
		if !ok {
			out = old
			return &store.Change{}, nil
		}
		n := ne.Obj.(*model.Network)
		if p.Action == model.AccessAsShared && !c.IsAdmin() && n.ProjectID != c.ProjectID {
			return nil, errRBACInUse(p.ObjectID, errNotNetworkOwner().Message)
		}
		if p.TargetTenant == old.TargetTenant {
			out = old
			return &store.Change{}, nil
		}
		if err := s.rbacInUse(n, old, p.TargetTenant, false); err != nil {
			return nil, err
		}
		key := s.rbacKey(p)
		if _, taken := s.cache.Claim(key); taken {
			return nil, neutron.Conflict("DuplicateRbacPolicy", "An RBAC policy already exists with those values.")
		}
		if !s.reserve(reserved, key) {
			return nil, errRetry
		}
		ch := &store.Change{}
		oldKey := s.rbacKey(old)
		if cl, ok := s.cache.Claim(oldKey); ok {
			ch.Delete(oldKey, cl.ModRev)
		}
		claim(ch, key, "rbac_policy", p.ID)
		s.putUpdate(ch, e, p)
		nn := ne.Copy().(*model.Network)
		if p.Action == model.AccessAsShared {
			nn.Shared = p.TargetTenant == "*"
		}
		s.bump(nn)
		s.putUpdate(ch, ne, nn)
		out = p
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) deleteRBAC(ctx context.Context, id string, _ *int64) error {
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookupOwned(ctx, s.kinds["rbac_policy"], id, "delete_rbac_policy")
		if err != nil {
			return nil, err
		}
		p := e.Obj.(*model.RBACPolicy)
		ch := &store.Change{}
		s.deleteWithClaims(ch, e)
		ne, ok := s.cache.Get("network", p.ObjectID)
		if !ok {
			return ch, nil
		}
		n := ne.Obj.(*model.Network)
		if err := s.rbacInUse(n, p, "", true); err != nil {
			return nil, err
		}
		nn := ne.Copy().(*model.Network)
		switch p.Action {
		case model.AccessAsShared:
			if p.TargetTenant == "*" {
				nn.Shared = false
			}
		case model.AccessAsExternal:
			// The last external entry gone, the network is no longer
			// external, unless gateways still use it (Neutron's
			// after-delete handler fails then, leaving it external).
			last := true
			for _, q := range s.rbacEntries(n.ID) {
				if q.ID != p.ID && q.Action == model.AccessAsExternal {
					last = false
				}
			}
			if last && len(s.gatewayRouters(n.ID)) == 0 {
				nn.RouterExternal = false
			}
		}
		s.bump(nn)
		s.putUpdate(ch, ne, nn)
		return ch, nil
	})
}

// gatewayRouters returns the routers with a gateway on network id.
func (s *Service) gatewayRouters(id string) []*model.Router {
	var out []*model.Router
	for _, pe := range s.cache.ByIndex("port", "network", id) {
		port := pe.Obj.(*model.Port)
		if port.DeviceOwner != OwnerRouterGateway {
			continue
		}
		if re, ok := s.cache.Get("router", port.DeviceID); ok {
			out = append(out, re.Obj.(*model.Router))
		}
	}
	return out
}

// rbacInUse refuses (409 RbacPolicyInUse) to delete entry p of network
// n, or to move it to target newTarget, while a project depends on it:
// for access_as_shared, ports of the project losing access; for
// access_as_external, routers whose gateway is on the network.
func (s *Service) rbacInUse(n *model.Network, p *model.RBACPolicy, newTarget string, deleting bool) error {
	switch p.Action {
	case model.AccessAsShared:
		if p.TargetTenant == n.ProjectID {
			return nil // self-sharing
		}
		if err := s.ensureNoTenantPorts(n, p.TargetTenant); err != nil {
			return errRBACInUse(n.ID, err.(*neutron.Error).Message)
		}
	case model.AccessAsExternal:
		routers := s.gatewayRouters(n.ID)
		inUse := false
		if p.TargetTenant != "*" {
			if s.hasRBAC(n.ID, model.AccessAsExternal, "*") {
				return nil
			}
			for _, r := range routers {
				inUse = inUse || r.ProjectID == p.TargetTenant
			}
		} else {
			allowed := map[string]bool{}
			for _, q := range s.rbacEntries(n.ID) {
				if q.Action == model.AccessAsExternal && q.TargetTenant != "*" {
					allowed[q.TargetTenant] = true
				}
			}
			if !deleting {
				allowed[newTarget] = true
			}
			for _, r := range routers {
				inUse = inUse || !allowed[r.ProjectID]
			}
		}
		if inUse {
			return errRBACInUse(n.ID, "There are routers attached to this network that depend on this policy for access.")
		}
	}
	return nil
}

// ensureNoTenantPorts refuses (409 InvalidSharedSetting) when project
// ("*": every project without an entry of its own) has ports on network n
// that only the sharing gives it access to.
func (s *Service) ensureNoTenantPorts(n *model.Network, project string) error {
	allowed := map[string]bool{n.ProjectID: true}
	if project == "*" {
		for _, q := range s.rbacEntries(n.ID) {
			if q.Action == model.AccessAsShared && q.TargetTenant != "*" {
				allowed[q.TargetTenant] = true
			}
		}
	} else if s.hasRBAC(n.ID, model.AccessAsShared, "*") {
		return nil
	}
	for _, pe := range s.cache.ByIndex("port", "network", n.ID) {
		owner := pe.Obj.GetProjectID()
		if project == "*" && !allowed[owner] || project != "*" && owner == project {
			return errInvalidSharedSetting(n.ID)
		}
	}
	return nil
}

func errInvalidSharedSetting(network string) *neutron.Error {
	return neutron.Conflict("InvalidSharedSetting", "Unable to reconfigure sharing settings for network %s. Multiple tenants are using it.", network)
}

// checkUnshare is Neutron's _validate_shared_update: a network stops
// being shared with everyone only if every project with ports (other than
// network:* devices) or subnets on it keeps access: the owner, or a
// project with an entry of its own.
func (s *Service) checkUnshare(n *model.Network) error {
	projects := map[string]bool{}
	for _, pe := range s.cache.ByIndex("port", "network", n.ID) {
		if !strings.HasPrefix(pe.Obj.(*model.Port).DeviceOwner, "network:") {
			projects[pe.Obj.GetProjectID()] = true
		}
	}
	for _, se := range s.cache.ByIndex("subnet", "network", n.ID) {
		projects[se.Obj.GetProjectID()] = true
	}
	if len(projects) == 0 || len(projects) == 1 && projects[n.ProjectID] {
		return nil
	}
	allowed := map[string]bool{n.ProjectID: true}
	for _, q := range s.rbacEntries(n.ID) {
		if q.Action == model.AccessAsShared && q.TargetTenant != "*" {
			allowed[q.TargetTenant] = true
		}
	}
	for p := range projects {
		if !allowed[p] {
			return errInvalidSharedSetting(n.Name)
		}
	}
	return nil
}

// rbacView is the network as caller c sees it: shared is true when the
// network is shared with c's project, by the wildcard or its own entry.
func (s *Service) networkView(c *policy.Creds, o model.Object) model.Object {
	n := o.(*model.Network)
	if n.Shared || !s.sharedWith(n, c.ProjectID) {
		return n
	}
	cp := *n
	cp.Shared = true
	return &cp
}
