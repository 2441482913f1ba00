package service

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/policy"
	"github.com/spinel-net/spinel/internal/query"
	"github.com/spinel-net/spinel/internal/store"
)

// Body is one resource's request attributes (inside the envelope).
type Body = map[string]json.RawMessage

// Resource is one Neutron collection served by the API.
type Resource struct {
	Kind     *cache.Kind
	Singular string // "network"
	Plural   string // "networks", the JSON collection key
	Path     string // URL segment if not Plural ("security-groups")
	// Tagged resources support /tags sub-resources and tag filters.
	Tagged bool
	// Visible reports whether the caller's project sees obj at all, as
	// Neutron's database queries scope what a project sees (nil: its own
	// resources). Admins see everything; what a caller may get among what
	// it sees is then the get_<Singular> policy rule's decision.
	Visible func(c *policy.Creds, obj model.Object) bool
	// Decorate fills computed attributes into a copy of obj (nil: none).
	Decorate func(obj model.Object) model.Object
	// View, if set, adjusts a decorated object to the caller (attributes
	// whose value depends on who asks, such as a network's shared).
	View func(c *policy.Creds, obj model.Object) model.Object
	// NotFound, if set, is the 404 for an id the caller does not see
	// (default: neutron.ResourceNotFound).
	NotFound func(id string) error
	Create   func(ctx context.Context, body Body) (model.Object, error)
	Update   func(ctx context.Context, id string, body Body, ifMatch *int64) (model.Object, error)
	Delete   func(ctx context.Context, id string, ifMatch *int64) error
	// BeforeList, if set, runs before every list with the list's filters
	// (e.g. to create defaults).
	BeforeList func(ctx context.Context, filters map[string][]string) error
}

// Resource returns the collection whose JSON key is plural ("networks", ...).
func (s *Service) Resource(plural string) (*Resource, bool) {
	for _, r := range s.kinds {
		if r.Plural == plural {
			return r, true
		}
	}
	return nil, false
}

// URLPath is the collection's URL segment under /v2.0.
func (r *Resource) URLPath() string {
	if r.Path != "" {
		return r.Path
	}
	return r.Plural
}

// Resources returns every collection.
func (s *Service) Resources() []*Resource {
	out := make([]*Resource, 0, len(s.kinds))
	for _, r := range s.kinds {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Resource) int { return strings.Compare(a.Plural, b.Plural) })
	return out
}

func (s *Service) resources() map[string]*Resource {
	rs := []*Resource{s.networkResource(), s.subnetResource(), s.portResource(), s.securityGroupResource(), s.securityGroupRuleResource(), s.routerResource(), s.floatingIPResource(), s.agentResource(), s.flavorResource(), s.serviceProfileResource(), s.rbacResource()}
	m := map[string]*Resource{}
	for _, r := range rs {
		m[r.Singular] = r
	}
	return m
}

func byProject(o model.Object) []string { return []string{o.GetProjectID()} }

// visible is the scope check: whether the caller sees obj at all.
func (s *Service) visible(r *Resource, c *policy.Creds, obj model.Object) bool {
	if c.IsAdmin() {
		return true
	}
	if r.Visible != nil {
		return r.Visible(c, obj)
	}
	return obj.GetProjectID() == c.ProjectID
}

// notFound is r's 404 for id.
func (r *Resource) notFound(id string) error {
	if r.NotFound != nil {
		return r.NotFound(id)
	}
	return neutron.ResourceNotFound(r.Singular, id)
}

// Entry is a resource as the API returns it, with the raw stored document
// when no computed attribute was added (so lists can skip re-encoding).
type Entry struct {
	Obj model.Object
	Raw []byte // nil when Obj was decorated
}

// List returns the visible resources matching q, sorted and paginated.
func (s *Service) List(ctx context.Context, r *Resource, q *query.Query) ([]Entry, []model.Object, error) {
	if r.BeforeList != nil {
		if err := r.BeforeList(ctx, q.Filters); err != nil {
			return nil, nil, err
		}
	}
	c := s.creds(ctx)
	// Collect under the cache's lock, filter outside it: the checks read
	// other entries (a port's network, a network's RBAC entries).
	var all []*cache.Entry
	s.cache.List(r.Singular, func(e *cache.Entry) bool {
		all = append(all, e)
		return true
	})
	var objs []model.Object
	raws := map[model.Object][]byte{}
	get := "get_" + r.Singular
	t := s.target(c, nil)
	for _, e := range all {
		if !s.visible(r, c, e.Obj) {
			continue
		}
		t.reset(e.Obj)
		if !s.policy.Enforce(get, t, c) {
			continue
		}
		objs = append(objs, e.Obj)
		raws[e.Obj] = e.Raw
	}
	out := objs[:0]
	for _, o := range objs {
		d := o
		if r.Decorate != nil {
			d = r.Decorate(o)
			if d != o {
				raws[d] = nil
			}
		}
		if r.View != nil {
			if v := r.View(c, d); v != d {
				d = v
				raws[d] = nil
			}
		}
		if q.Match(d) {
			out = append(out, d)
		}
	}
	q.Sorted(out)
	page := q.Page(out)
	entries := make([]Entry, len(page))
	for i, o := range page {
		entries[i] = Entry{Obj: o, Raw: raws[o]}
	}
	return entries, page, nil
}

// Show returns one visible resource, or its kind's 404.
func (s *Service) Show(ctx context.Context, r *Resource, id string) (Entry, error) {
	e, err := s.lookup(ctx, r, id)
	if err != nil {
		return Entry{}, err
	}
	d := e.Obj
	if r.Decorate != nil {
		d = r.Decorate(d)
	}
	if r.View != nil {
		d = r.View(s.creds(ctx), d)
	}
	if d != e.Obj {
		return Entry{Obj: d}, nil
	}
	return Entry{Obj: e.Obj, Raw: e.Raw}, nil
}

// lookup finds a resource the caller sees and may get (get_<resource>);
// anything else is the kind's 404, as if it did not exist.
func (s *Service) lookup(ctx context.Context, r *Resource, id string) (*cache.Entry, error) {
	e, ok := s.cache.Get(r.Singular, id)
	if !ok || !s.readable(r, s.creds(ctx), e.Obj) {
		return nil, r.notFound(id)
	}
	return e, nil
}

// lookupOwned finds a resource the caller may act on with action: 404 if
// it may not get it, 403 PolicyNotAuthorized if it may get it but the
// action's rule refuses (Neutron's PolicyHook).
func (s *Service) lookupOwned(ctx context.Context, r *Resource, id, action string) (*cache.Entry, error) {
	e, err := s.lookup(ctx, r, id)
	if err != nil {
		return nil, err
	}
	c := s.creds(ctx)
	if err := s.authorize(c, action, s.target(c, e.Obj), nil); err != nil {
		return nil, err
	}
	return e, nil
}

// Tags returns a resource's tags (get_<plural>_tags).
func (s *Service) Tags(ctx context.Context, r *Resource, id string) ([]string, error) {
	e, err := s.lookupOwned(ctx, r, id, "get_"+r.Plural+"_tags")
	if err != nil {
		return nil, err
	}
	return e.Obj.(model.Tagged).Std().Tags, nil
}

// TagMode says how ChangeTags changes the set of tags.
type TagMode int

// How ChangeTags changes tags.
const (
	TagsReplace TagMode = iota // set exactly these
	TagAdd                     // add one
	TagsClear                  // remove all
	TagRemove                  // remove one (404 TagNotFound if absent)
)

// MaxTagLength is Neutron's limit on a tag's length.
const MaxTagLength = 255

func validateTag(t string) error {
	if len(t) > MaxTagLength {
		return neutron.InvalidInput("'%s' exceeds maximum length of %d", t, MaxTagLength)
	}
	return nil
}

// ChangeTags changes a resource's tags as mode says and returns the result.
func (s *Service) ChangeTags(ctx context.Context, r *Resource, id string, mode TagMode, tags []string) ([]string, error) {
	seen := map[string]bool{}
	for _, t := range tags {
		if err := validateTag(t); err != nil {
			return nil, err
		}
		if mode == TagsReplace && seen[t] {
			return nil, neutron.InvalidInput("Duplicate items in the list: '%s'", t)
		}
		seen[t] = true
	}
	var result []string
	err := s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		action := "update_" + r.Plural + "_tags"
		if mode == TagsClear || mode == TagRemove {
			action = "delete_" + r.Plural + "_tags"
		}
		e, err := s.lookupOwned(ctx, r, id, action)
		if err != nil {
			return nil, err
		}
		obj := e.Copy()
		std := obj.(model.Tagged).Std()
		cur := std.Tags
		switch mode {
		case TagsReplace:
			cur = slices.Clone(tags)
		case TagAdd:
			if slices.Contains(cur, tags[0]) {
				result = cur
				return &store.Change{}, nil
			}
			cur = append(cur, tags[0])
		case TagsClear:
			cur = nil
		case TagRemove:
			i := slices.Index(cur, tags[0])
			if i < 0 {
				return nil, neutron.NotFound("TagNotFound", "Tag %s could not be found for %s %s.", tags[0], r.Singular, id)
			}
			cur = slices.Delete(cur, i, i+1)
		}
		std.Tags = cur
		s.bump(obj)
		ch := &store.Change{}
		s.putUpdate(ch, e, obj)
		result = std.Tags
		return ch, nil
	})
	if result == nil {
		result = []string{}
	}
	return result, err
}
