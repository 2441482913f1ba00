// Package query implements Neutron's list semantics over in-memory
// resources: filters on any attribute (several values OR-ed), tag filters,
// fields=, sort_key/sort_dir, and limit/marker/page_reverse pagination with
// the *_links Neutron returns.
package query

import (
	"cmp"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
)

// Sort is one sort key.
type Sort struct {
	Field *model.Field
	Asc   bool
}

// Query is a parsed list request.
type Query struct {
	Filters     map[string][]string // attribute -> accepted values (raw)
	Fields      []string            // requested attributes, nil for all
	Sorts       []Sort
	Limit       int // 0: no pagination
	Marker      string
	PageReverse bool
	Tags        []string // all of these
	TagsAny     []string // at least one of these
	NotTags     []string // not all of these
	NotTagsAny  []string // none of these

	schema   *model.Schema
	matchers []matcher
}

var reserved = map[string]bool{
	"fields": true, "sort_key": true, "sort_dir": true, "limit": true, "marker": true,
	"page_reverse": true, "tags": true, "tags-any": true, "not-tags": true, "not-tags-any": true,
}

// Parse parses list parameters for resources of proto's type. Unknown or
// non-filterable attributes and malformed values give 400s worded as Neutron's.
func Parse(v url.Values, proto model.Object) (*Query, error) {
	s := model.SchemaOf(proto)
	q := &Query{Filters: map[string][]string{}, schema: s}
	var invalid []string
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		vals := v[k]
		if reserved[k] {
			continue
		}
		f, ok := s.Field(k)
		if !ok || !f.Filter {
			invalid = append(invalid, k)
			continue
		}
		m, err := newMatcher(f, vals)
		if err != nil {
			return nil, err
		}
		q.Filters[k] = vals
		q.matchers = append(q.matchers, m)
	}
	if len(invalid) > 0 {
		return nil, neutron.BadRequest("%s is invalid attribute for filtering", pyList(invalid))
	}
	for _, f := range v["fields"] {
		for _, name := range strings.Split(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				q.Fields = append(q.Fields, name)
			}
		}
	}
	q.Tags = splitAll(v["tags"])
	q.TagsAny = splitAll(v["tags-any"])
	q.NotTags = splitAll(v["not-tags"])
	q.NotTagsAny = splitAll(v["not-tags-any"])

	keysIn, dirs := v["sort_key"], v["sort_dir"]
	if len(dirs) != len(keysIn) {
		return nil, neutron.BadRequest("The number of sort_keys and sort_dirs must be same")
	}
	var absent, badDirs []string
	for i, k := range keysIn {
		f, ok := s.Field(k)
		if !ok || !f.Filter {
			absent = append(absent, k)
			continue
		}
		asc := true
		switch dirs[i] {
		case "asc":
		case "desc":
			asc = false
		default:
			badDirs = append(badDirs, dirs[i])
		}
		q.Sorts = append(q.Sorts, Sort{Field: f, Asc: asc})
	}
	if len(absent) > 0 {
		return nil, neutron.BadRequest("%s is invalid attribute for sort_keys", pyList(absent))
	}
	if len(badDirs) > 0 {
		return nil, neutron.BadRequest("%s is invalid value for sort_dirs, valid value is 'asc' and 'desc'", pyList(badDirs))
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return nil, neutron.BadRequest("Limit must be an integer 0 or greater and not '%s'", l)
		}
		q.Limit = n
	}
	q.Marker = v.Get("marker")
	q.PageReverse = strings.EqualFold(v.Get("page_reverse"), "true")
	return q, nil
}

func splitAll(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, t := range strings.Split(v, ",") {
			if t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// pyList formats names the way Neutron's messages print a Python list.
func pyList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Match reports whether obj passes every filter and tag filter.
func (q *Query) Match(obj model.Object) bool {
	for _, m := range q.matchers {
		if !m(obj) {
			return false
		}
	}
	if len(q.Tags)+len(q.TagsAny)+len(q.NotTags)+len(q.NotTagsAny) > 0 {
		t, ok := obj.(model.Tagged)
		if !ok {
			return false
		}
		return matchTags(t.Std().Tags, q)
	}
	return true
}

func matchTags(have []string, q *Query) bool {
	has := func(t string) bool { return slices.Contains(have, t) }
	all := func(ts []string) bool {
		for _, t := range ts {
			if !has(t) {
				return false
			}
		}
		return true
	}
	anyOf := func(ts []string) bool { return slices.ContainsFunc(ts, has) }
	if len(q.Tags) > 0 && !all(q.Tags) {
		return false
	}
	if len(q.TagsAny) > 0 && !anyOf(q.TagsAny) {
		return false
	}
	if len(q.NotTags) > 0 && all(q.NotTags) {
		return false
	}
	if len(q.NotTagsAny) > 0 && anyOf(q.NotTagsAny) {
		return false
	}
	return true
}

type matcher func(model.Object) bool

func newMatcher(f *model.Field, vals []string) (matcher, error) {
	t := f.Type
	ptr := t.Kind() == reflect.Pointer
	if ptr {
		t = t.Elem()
	}
	deref := func(obj model.Object) (reflect.Value, bool) {
		v := f.Value(obj)
		if ptr {
			if v.IsNil() {
				return v, false
			}
			v = v.Elem()
		}
		return v, true
	}
	switch t.Kind() {
	case reflect.String:
		set := map[string]bool{}
		for _, v := range vals {
			set[v] = true
		}
		return func(obj model.Object) bool {
			v, ok := deref(obj)
			if !ok {
				return set[""] || set["None"]
			}
			return set[v.String()]
		}, nil
	case reflect.Bool:
		set := map[bool]bool{}
		for _, v := range vals {
			b, err := model.ParseBoolString(v)
			if err != nil {
				return nil, neutron.InvalidInput("'%s' cannot be converted to boolean", v)
			}
			set[b] = true
		}
		return func(obj model.Object) bool {
			v, ok := deref(obj)
			return ok && set[v.Bool()]
		}, nil
	case reflect.Int, reflect.Int64:
		set := map[int64]bool{}
		for _, v := range vals {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, neutron.InvalidInput("'%s' is not an integer", v)
			}
			set[n] = true
		}
		return func(obj model.Object) bool {
			v, ok := deref(obj)
			return ok && set[v.Int()]
		}, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			set := map[string]bool{}
			for _, v := range vals {
				set[v] = true
			}
			return func(obj model.Object) bool {
				v := f.Value(obj)
				for i := range v.Len() {
					if set[v.Index(i).String()] {
						return true
					}
				}
				return false
			}, nil
		}
		if t.Elem() == reflect.TypeFor[model.FixedIP]() {
			return fixedIPMatcher(f, vals)
		}
	}
	return nil, neutron.BadRequest("%s is invalid attribute for filtering", pyList([]string{f.Name}))
}

// fixedIPMatcher implements ?fixed_ips=ip_address=X&fixed_ips=subnet_id=Y
// (and ip_address_substr=): a port matches when one of its addresses
// satisfies every given criterion, as Neutron's join on IP allocations does.
func fixedIPMatcher(f *model.Field, vals []string) (matcher, error) {
	ips, subnets, substr := map[string]bool{}, map[string]bool{}, []string{}
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			return nil, neutron.InvalidAttribute("fixed_ips", fmt.Sprintf("'%s' is not of the form key=value", v))
		}
		switch k {
		case "ip_address":
			ips[val] = true
		case "subnet_id":
			subnets[val] = true
		case "ip_address_substr":
			substr = append(substr, val)
		default:
			return nil, neutron.InvalidAttribute("fixed_ips", fmt.Sprintf("'%s' is not a valid fixed_ips filter", k))
		}
	}
	return func(obj model.Object) bool {
		for _, ip := range f.Value(obj).Interface().([]model.FixedIP) {
			if len(ips) > 0 && !ips[ip.IPAddress] {
				continue
			}
			if len(subnets) > 0 && !subnets[ip.SubnetID] {
				continue
			}
			if len(substr) > 0 && !slices.ContainsFunc(substr, func(s string) bool { return strings.Contains(ip.IPAddress, s) }) {
				continue
			}
			return true
		}
		return false
	}, nil
}

// Sorted sorts items in place by the query's sort keys with id as the last
// tie-breaker (Neutron always adds it when paginating).
func (q *Query) Sorted(items []model.Object) {
	if len(q.Sorts) == 0 {
		return // items arrive ordered by id
	}
	slices.SortStableFunc(items, q.compare)
}

func (q *Query) compare(a, b model.Object) int {
	for _, s := range q.Sorts {
		c := compareValues(s.Field.Value(a), s.Field.Value(b))
		if !s.Asc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return strings.Compare(a.GetID(), b.GetID())
}

func compareValues(a, b reflect.Value) int {
	if a.Kind() == reflect.Pointer {
		switch {
		case a.IsNil() && b.IsNil():
			return 0
		case a.IsNil():
			return -1
		case b.IsNil():
			return 1
		}
		a, b = a.Elem(), b.Elem()
	}
	switch a.Kind() {
	case reflect.String:
		return strings.Compare(a.String(), b.String())
	case reflect.Int, reflect.Int64:
		return cmp.Compare(a.Int(), b.Int())
	case reflect.Bool:
		return cmp.Compare(boolInt(a.Bool()), boolInt(b.Bool()))
	case reflect.Slice:
		return cmp.Compare(a.Len(), b.Len())
	}
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Page applies limit/marker/page_reverse to sorted items. A marker that is
// not among the items gives an empty page.
func (q *Query) Page(items []model.Object) []model.Object {
	if q.Limit == 0 {
		return items
	}
	i := 0
	if q.Marker != "" {
		i = slices.IndexFunc(items, func(o model.Object) bool { return o.GetID() == q.Marker })
		if i < 0 {
			return nil
		}
	} else if q.PageReverse {
		i = len(items)
	}
	if q.PageReverse {
		return items[max(i-q.Limit, 0):i]
	}
	if q.Marker != "" {
		i++
	}
	return items[i:min(i+q.Limit, len(items))]
}

// Link is one entry of a <collection>_links list.
type Link struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

// Links returns the pagination links Neutron returns for page, where base
// is the collection URL without query and params the request's parameters.
func (q *Query) Links(page []model.Object, base string, params url.Values) []Link {
	if q.Limit == 0 {
		return nil
	}
	var links []Link
	if !(len(page) < q.Limit && !q.PageReverse) {
		p := cloneValues(params)
		p.Del("marker")
		if len(page) > 0 {
			p.Set("marker", page[len(page)-1].GetID())
		}
		p.Del("page_reverse")
		links = append(links, Link{Rel: "next", Href: base + "?" + p.Encode()})
	}
	if !(len(page) < q.Limit && q.PageReverse) {
		p := cloneValues(params)
		p.Del("marker")
		if len(page) > 0 {
			p.Set("marker", page[0].GetID())
		}
		p.Set("page_reverse", "True")
		links = append(links, Link{Rel: "previous", Href: base + "?" + p.Encode()})
	}
	return links
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
