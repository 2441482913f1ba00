package service

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/spinel-net/spinel/internal/auth"
	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
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
	// Visible reports whether the caller may see obj (nil: owner or admin).
	Visible func(id *auth.Identity, obj model.Object) bool
	// Decorate fills computed attributes into a copy of obj (nil: none).
	Decorate func(obj model.Object) model.Object
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
	rs := []*Resource{s.networkResource(), s.subnetResource(), s.portResource(), s.securityGroupResource(), s.securityGroupRuleResource(), s.routerResource(), s.floatingIPResource(), s.agentResource(), s.flavorResource(), s.serviceProfileResource()}
	m := map[string]*Resource{}
	for _, r := range rs {
		m[r.Singular] = r
	}
	return m
}

func byProject(o model.Object) []string { return []string{o.GetProjectID()} }

func (s *Service) visible(r *Resource, id *auth.Identity, obj model.Object) bool {
	if id.Admin {
		return true
	}
	if r.Visible != nil {
		return r.Visible(id, obj)
	}
	return obj.GetProjectID() == id.ProjectID
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
	id := auth.From(ctx)
	var objs []model.Object
	raws := map[model.Object][]byte{}
	s.cache.List(r.Singular, func(e *cache.Entry) bool {
		if s.visible(r, id, e.Obj) {
			objs = append(objs, e.Obj)
			raws[e.Obj] = e.Raw
		}
		return true
	})
	out := objs[:0]
	for _, o := range objs {
		d := o
		if r.Decorate != nil {
			d = r.Decorate(o)
			if d != o {
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
	if r.Decorate != nil {
		if d := r.Decorate(e.Obj); d != e.Obj {
			return Entry{Obj: d}, nil
		}
	}
	return Entry{Obj: e.Obj, Raw: e.Raw}, nil
}

// lookup finds a resource the caller may see.
func (s *Service) lookup(ctx context.Context, r *Resource, id string) (*cache.Entry, error) {
	e, ok := s.cache.Get(r.Singular, id)
	if !ok || !s.visible(r, auth.From(ctx), e.Obj) {
		return nil, neutron.ResourceNotFound(r.Singular, id)
	}
	return e, nil
}

// lookupOwned finds a resource the caller may change: 404 if invisible,
// 403 if visible but another project's.
func (s *Service) lookupOwned(ctx context.Context, r *Resource, id, action string) (*cache.Entry, error) {
	e, err := s.lookup(ctx, r, id)
	if err != nil {
		return nil, err
	}
	ident := auth.From(ctx)
	if err := requireWriter(ident, action); err != nil {
		return nil, err
	}
	if !ident.Owns(e.Obj.GetProjectID()) {
		return nil, neutron.Forbidden(action)
	}
	return e, nil
}

// Tags returns a resource's tags.
func (s *Service) Tags(ctx context.Context, r *Resource, id string) ([]string, error) {
	e, err := s.lookup(ctx, r, id)
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
		e, err := s.lookupOwned(ctx, r, id, "update_"+r.Singular+":tags")
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
