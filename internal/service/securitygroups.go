package service

import (
	"context"
	"slices"
	"strings"

	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/policy"
	"github.com/spinel-net/spinel/internal/secgroup"
	"github.com/spinel-net/spinel/internal/store"
)

func (s *Service) securityGroupResource() *Resource {
	return &Resource{
		Kind: &cache.Kind{Name: "security_group", New: func() model.Object { return &model.SecurityGroup{} },
			Indexes: map[string]func(model.Object) []string{"project": byProject}},
		Singular: "security_group", Plural: "security_groups", Path: "security-groups", Tagged: true,
		Decorate:   s.decorateSG,
		Create:     s.createSG,
		Update:     s.updateSG,
		Delete:     s.deleteSG,
		BeforeList: s.ensureDefaultsOnList,
	}
}

func (s *Service) securityGroupRuleResource() *Resource {
	return &Resource{
		Kind: &cache.Kind{Name: "security_group_rule", New: func() model.Object { return &model.SecurityGroupRule{} },
			Indexes: map[string]func(model.Object) []string{
				"project": byProject,
				"sg":      func(o model.Object) []string { return []string{o.(*model.SecurityGroupRule).SecurityGroupID} },
				"remote": func(o model.Object) []string {
					if r := o.(*model.SecurityGroupRule).RemoteGroupID; r != nil {
						return []string{*r}
					}
					return nil
				},
			}},
		Singular: "security_group_rule", Plural: "security_group_rules", Path: "security-group-rules",
		BeforeList: s.ensureDefaultsOnList,
		Visible: func(id *policy.Creds, o model.Object) bool {
			r := o.(*model.SecurityGroupRule)
			if r.ProjectID == id.ProjectID {
				return true
			}
			sg, ok := s.cache.Get("security_group", r.SecurityGroupID)
			return ok && sg.Obj.GetProjectID() == id.ProjectID
		},
		Create: s.createRule,
		Update: s.updateRule,
		Delete: s.deleteRule,
	}
}

func (s *Service) defaultSGKey(project string) string {
	return s.store.ClaimKey("default-sg", project)
}

// defaultSGOf returns the id of project's default group, or "".
func (s *Service) defaultSGOf(project string) string {
	c, ok := s.cache.Claim(s.defaultSGKey(project))
	if !ok {
		return ""
	}
	_, id, _ := strings.Cut(c.Owner, "/")
	return id
}

func (s *Service) decorateSG(o model.Object) model.Object {
	sg := *o.(*model.SecurityGroup)
	sg.Rules = []model.SecurityGroupRule{}
	for _, e := range s.cache.ByIndex("security_group_rule", "sg", sg.ID) {
		sg.Rules = append(sg.Rules, *e.Obj.(*model.SecurityGroupRule))
	}
	slices.SortFunc(sg.Rules, func(a, b model.SecurityGroupRule) int { return strings.Compare(a.ID, b.ID) })
	return &sg
}

func toModelRule(r secgroup.Rule) model.SecurityGroupRule {
	return model.SecurityGroupRule{
		Direction: r.Direction, Ethertype: r.Ethertype, Protocol: r.Protocol,
		PortRangeMin: r.PortRangeMin, PortRangeMax: r.PortRangeMax, RemoteIPPrefix: r.RemoteIPPrefix,
		RemoteGroupID: r.RemoteGroupID, RemoteAddressGroupID: r.RemoteAddressGroupID,
	}
}

func fromModelRule(r *model.SecurityGroupRule) secgroup.Rule {
	return secgroup.Rule{
		Direction: r.Direction, Ethertype: r.Ethertype, Protocol: r.Protocol,
		PortRangeMin: r.PortRangeMin, PortRangeMax: r.PortRangeMax, RemoteIPPrefix: r.RemoteIPPrefix,
		RemoteGroupID: r.RemoteGroupID, RemoteAddressGroupID: r.RemoteAddressGroupID,
	}
}

func (s *Service) ruleKey(sg string, r secgroup.Rule) string {
	return s.store.ClaimKey("sg-rule", sg+"/"+secgroup.Fingerprint(r))
}

// addRules adds rules to group sg in ch (claims included).
func (s *Service) addRules(ch *store.Change, sg *model.SecurityGroup, rules []secgroup.Rule, isDefault bool) {
	for _, r := range rules {
		m := toModelRule(r)
		m.ID = newID()
		m.ProjectID, m.TenantID = sg.ProjectID, sg.ProjectID
		m.SecurityGroupID = sg.ID
		m.CreatedAt, m.UpdatedAt = sg.CreatedAt, sg.UpdatedAt
		m.RevisionNumber = 0
		m.BelongsToDefault = isDefault
		m.Normalized = secgroup.NormalizedCIDR(r)
		claim(ch, s.ruleKey(sg.ID, r), "security_group_rule", m.ID)
		s.putNew(ch, "security_group_rule", &m)
	}
}

// ensureDefaultSG returns project's default group, adding its creation to
// ch if it does not exist yet. Its claim makes the group unique per project.
func (s *Service) ensureDefaultSG(ch *store.Change, reserved *[]string, project string) (string, error) {
	if id := s.defaultSGOf(project); id != "" {
		return id, nil
	}
	key := s.defaultSGKey(project)
	if !s.reserve(reserved, key) {
		return "", errRetry
	}
	sg := &model.SecurityGroup{Stateful: true}
	sg.ID = newID()
	sg.Name = "default"
	sg.Description = "Default security group"
	sg.ProjectID, sg.TenantID = project, project
	sg.Stamp(s.now())
	claim(ch, key, "security_group", sg.ID)
	s.addRules(ch, sg, secgroup.DefaultRules(sg.ID), true)
	s.putNew(ch, "security_group", sg)
	return sg.ID, nil
}

func (s *Service) createSG(ctx context.Context, body Body) (model.Object, error) {
	ident := s.creds(ctx)
	sg := &model.SecurityGroup{}
	present, err := model.Decode(body, sg, model.Create)
	if err != nil {
		return nil, err
	}
	if err := setProject(ident, present, &sg.ProjectID, &sg.TenantID); err != nil {
		return nil, err
	}
	if err := s.authorize(ident, "create_security_group", s.target(ident, sg), model.PolicyAttrs(body, sg, model.Create)); err != nil {
		return nil, err
	}
	if err := secgroup.ValidateGroupName(sg.Name); err != nil {
		return nil, err
	}
	if !present.Has("stateful") {
		sg.Stateful = true
	}
	sg.ID = newID()
	sg.Stamp(s.now())
	err = s.commit(ctx, func(reserved *[]string) (*store.Change, error) {
		ch := &store.Change{}
		if _, err := s.ensureDefaultSG(ch, reserved, sg.ProjectID); err != nil {
			return nil, err
		}
		if err := s.takeQuota(ch, reserved, "security_group", sg.ProjectID, sg.ID); err != nil {
			return nil, err
		}
		// Neutron first checks that the new group's own rules fit the quota.
		need := len(secgroup.NewGroupRules())
		if s.defaultSGOf(sg.ProjectID) == "" {
			need += len(secgroup.DefaultRules(""))
		}
		if l := s.limit(sg.ProjectID, "security_group_rule"); l >= 0 && s.used(sg.ProjectID, "security_group_rule")+need > l {
			return nil, neutron.OverQuota("security_group_rule")
		}
		s.addRules(ch, sg, secgroup.NewGroupRules(), false)
		s.putNew(ch, "security_group", sg)
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return s.decorateSG(sg), nil
}

func (s *Service) updateSG(ctx context.Context, id string, body Body, ifMatch *int64) (model.Object, error) {
	ident := s.creds(ctx)
	var out *model.SecurityGroup
	err := s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookup(ctx, s.kinds["security_group"], id)
		if err != nil {
			return nil, err
		}
		sg := e.Copy().(*model.SecurityGroup)
		old := e.Obj.(*model.SecurityGroup)
		present, err := model.Decode(body, sg, model.Update)
		if err != nil {
			return nil, err
		}
		if err := s.authorize(ident, "update_security_group", s.target(ident, sg), model.PolicyAttrs(body, sg, model.Update)); err != nil {
			return nil, err
		}
		if err := checkIfMatch(ifMatch, e.Obj); err != nil {
			return nil, err
		}
		isDefault := s.defaultSGOf(sg.ProjectID) == id
		if present.Has("name") {
			if err := secgroup.ValidateGroupName(sg.Name); err != nil {
				return nil, err
			}
			if isDefault && sg.Name != old.Name {
				return nil, neutron.Conflict("SecurityGroupCannotUpdateDefault", "Updating default security group not allowed.")
			}
		}
		if sg.Stateful != old.Stateful && len(s.cache.ByIndex("port", "sg", id)) > 0 {
			return nil, neutron.Conflict("SecurityGroupInUse", "Security Group %s in use.", id)
		}
		sg.Rules = nil
		s.bump(sg)
		ch := &store.Change{}
		s.putUpdate(ch, e, sg)
		out = sg
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return s.decorateSG(out), nil
}

func (s *Service) deleteSG(ctx context.Context, id string, ifMatch *int64) error {
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookupOwned(ctx, s.kinds["security_group"], id, "delete_security_group")
		if err != nil {
			return nil, err
		}
		if err := checkIfMatch(ifMatch, e.Obj); err != nil {
			return nil, err
		}
		if len(s.cache.ByIndex("port", "sg", id)) > 0 {
			return nil, neutron.Conflict("SecurityGroupInUse", "Security Group %s in use.", id)
		}
		if s.defaultSGOf(e.Obj.GetProjectID()) == id && !s.creds(ctx).IsAdmin() {
			return nil, neutron.Conflict("SecurityGroupCannotRemoveDefault", "Insufficient rights for removing default security group.")
		}
		ch := &store.Change{}
		for _, r := range s.cache.ByIndex("security_group_rule", "sg", id) {
			s.deleteWithClaims(ch, r)
		}
		// Rules elsewhere that refer to this group go with it.
		for _, r := range s.cache.ByIndex("security_group_rule", "remote", id) {
			s.deleteWithClaims(ch, r)
		}
		s.deleteWithClaims(ch, e)
		return ch, nil
	})
}

func (s *Service) createRule(ctx context.Context, body Body) (model.Object, error) {
	ident := s.creds(ctx)
	m := &model.SecurityGroupRule{}
	present, err := model.Decode(body, m, model.Create)
	if err != nil {
		return nil, err
	}
	// The rule's project is the caller's unless the body names one; the
	// group's owner is only known once the group is found.
	pm := *m
	if err := setProject(ident, present, &pm.ProjectID, &pm.TenantID); err != nil {
		return nil, err
	}
	if err := s.authorize(ident, "create_security_group_rule", s.target(ident, &pm), model.PolicyAttrs(body, m, model.Create)); err != nil {
		return nil, err
	}
	r := fromModelRule(m)
	if err := secgroup.Validate(&r); err != nil {
		return nil, err
	}
	var out *model.SecurityGroupRule
	err = s.commit(ctx, func(reserved *[]string) (*store.Change, error) {
		sge, err := s.lookup(ctx, s.kinds["security_group"], m.SecurityGroupID)
		if err != nil {
			return nil, err
		}
		if !ident.IsAdmin() && sge.Obj.GetProjectID() != ident.ProjectID {
			return nil, neutron.ResourceNotFound("security_group", m.SecurityGroupID)
		}
		if r.RemoteGroupID != nil {
			if _, err := s.lookup(ctx, s.kinds["security_group"], *r.RemoteGroupID); err != nil {
				return nil, err
			}
		}
		if r.RemoteAddressGroupID != nil {
			return nil, neutron.NotFound("AddressGroupNotFound", "Address group %s could not be found.", *r.RemoteAddressGroupID)
		}
		key := s.ruleKey(m.SecurityGroupID, r)
		if c, ok := s.cache.Claim(key); ok {
			_, rid, _ := strings.Cut(c.Owner, "/")
			return nil, neutron.Conflict("SecurityGroupRuleExists", "Security group rule already exists. Rule id is %s.", rid)
		}
		rule := toModelRule(r)
		rule.ID = newID()
		rule.Description = m.Description
		rule.SecurityGroupID = m.SecurityGroupID
		rule.ProjectID, rule.TenantID = m.ProjectID, m.TenantID
		if err := setProject(ident, present, &rule.ProjectID, &rule.TenantID); err != nil {
			return nil, err
		}
		if !present.Has("project_id") && !present.Has("tenant_id") {
			rule.ProjectID, rule.TenantID = sge.Obj.GetProjectID(), sge.Obj.GetProjectID()
		}
		rule.Normalized = secgroup.NormalizedCIDR(r)
		rule.BelongsToDefault = s.defaultSGOf(sge.Obj.GetProjectID()) == m.SecurityGroupID
		now := s.now().UTC().Format(model.TimeFormat)
		rule.CreatedAt, rule.UpdatedAt = now, now
		ch := &store.Change{}
		if !s.reserve(reserved, key) {
			return nil, errRetry
		}
		claim(ch, key, "security_group_rule", rule.ID)
		if err := s.takeQuota(ch, reserved, "security_group_rule", rule.ProjectID, rule.ID); err != nil {
			return nil, err
		}
		s.putNew(ch, "security_group_rule", &rule)
		out = &rule
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// updateRule refuses every change: rules are immutable in Neutron.
func (s *Service) updateRule(ctx context.Context, id string, body Body, _ *int64) (model.Object, error) {
	e, err := s.lookup(ctx, s.kinds["security_group_rule"], id)
	if err != nil {
		return nil, err
	}
	m := e.Copy()
	if _, err := model.Decode(body, m, model.Update); err != nil {
		return nil, err
	}
	return e.Obj, nil
}

func (s *Service) deleteRule(ctx context.Context, id string, _ *int64) error {
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		e, err := s.lookupOwned(ctx, s.kinds["security_group_rule"], id, "delete_security_group_rule")
		if err != nil {
			return nil, err
		}
		ch := &store.Change{}
		s.deleteWithClaims(ch, e)
		return ch, nil
	})
}

// ensureDefaultsOnList creates default groups as Neutron does when groups
// or rules are listed: for the caller's project, and for every project an
// admin names in a project_id/tenant_id filter.
func (s *Service) ensureDefaultsOnList(ctx context.Context, filters map[string][]string) error {
	id := s.creds(ctx)
	projects := []string{}
	if id.ProjectID != "" && (id.IsAdmin() || id.HasRole("member") || !id.HasRole("reader")) {
		projects = append(projects, id.ProjectID)
	}
	if id.IsAdmin() {
		projects = append(projects, filters["project_id"]...)
		projects = append(projects, filters["tenant_id"]...)
	}
	for _, p := range projects {
		if p == "" || s.defaultSGOf(p) != "" {
			continue
		}
		err := s.commit(ctx, func(reserved *[]string) (*store.Change, error) {
			ch := &store.Change{}
			_, err := s.ensureDefaultSG(ch, reserved, p)
			return ch, err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
