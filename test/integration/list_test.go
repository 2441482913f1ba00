package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/external"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

// TestListFilters: single values, several values of one attribute (OR),
// several attributes (AND), booleans, no match, and 400 for attributes
// that are not filters.
func TestListFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alpha := createNet(t, e.admin, networks.CreateOpts{Name: "alpha"})
	beta := createNet(t, e.admin, networks.CreateOpts{Name: "beta", AdminStateUp: ptr(false)})
	gamma := createNet(t, e.admin, networks.CreateOpts{Name: "gamma", Shared: ptr(true)})
	delta := createNet(t, e.admin, external.CreateOptsExt{CreateOptsBuilder: networks.CreateOpts{Name: "delta"}, External: ptr(true)})
	other := createNet(t, e.admin, networks.CreateOpts{Name: "alpha", ProjectID: "otherproject", AdminStateUp: ptr(false)})
	all := []netView{alpha, beta, gamma, delta, other}

	cases := []struct {
		name string
		opts networks.ListOptsBuilder
		want []netView
	}{
		{"no filter", nil, all},
		{"name", networks.ListOpts{Name: "beta"}, []netView{beta}},
		{"name two matches", networks.ListOpts{Name: "alpha"}, []netView{alpha, other}},
		{"name no match", networks.ListOpts{Name: "nothing"}, nil},
		{"id", networks.ListOpts{ID: gamma.ID}, []netView{gamma}},
		{"two ids", query{"id": {alpha.ID, delta.ID}}, []netView{alpha, delta}},
		{"two names", query{"name": {"beta", "gamma"}}, []netView{beta, gamma}},
		{"id and unknown id", query{"id": {beta.ID, "00000000-0000-0000-0000-000000000000"}}, []netView{beta}},
		{"admin_state_up false", networks.ListOpts{AdminStateUp: ptr(false)}, []netView{beta, other}},
		{"admin_state_up true", networks.ListOpts{AdminStateUp: ptr(true)}, []netView{alpha, gamma, delta}},
		{"admin_state_up True (Python spelling)", query{"admin_state_up": {"True"}}, []netView{alpha, gamma, delta}},
		{"shared", networks.ListOpts{Shared: ptr(true)}, []netView{gamma}},
		{"router:external", external.ListOptsExt{ListOptsBuilder: networks.ListOpts{}, External: ptr(true)}, []netView{delta}},
		{"router:external false", external.ListOptsExt{ListOptsBuilder: networks.ListOpts{}, External: ptr(false)}, []netView{alpha, beta, gamma, other}},
		{"name and admin_state_up (AND)", networks.ListOpts{Name: "alpha", AdminStateUp: ptr(false)}, []netView{other}},
		{"project_id", networks.ListOpts{ProjectID: "otherproject"}, []netView{other}},
		{"tenant_id", networks.ListOpts{TenantID: "admin"}, []netView{alpha, beta, gamma, delta}},
		{"status", networks.ListOpts{Status: "ACTIVE"}, all},
		{"mtu", query{"mtu": {"1500"}}, all},
		{"provider:network_type", query{"provider:network_type": {"routed"}}, all},
		{"revision_number", networks.ListOpts{RevisionNumber: ptr(1)}, all},
	}
	for _, c := range cases {
		got := listNets(t, e.admin, c.opts)
		if !slices.Equal(sortedIDs(got), sortedIDs(c.want)) {
			t.Errorf("%s: got %v, want %v", c.name, names(got), names(c.want))
		}
	}

	// An empty result is an empty list, not null.
	r := e.adminDo("GET", "/v2.0/networks?name=nothing", nil).expect(t, http.StatusOK)
	if string(r.Body) != `{"networks":[]}` && !jsonEqual(r.object(t), map[string]any{"networks": []any{}}) {
		t.Errorf("empty list body: %s", r.Body)
	}

	// Attributes that are not filters are refused (filter-validation).
	ne := e.adminDo("GET", "/v2.0/networks?foo=bar", nil).expectError(t, http.StatusBadRequest, "HTTPBadRequest")
	// neutron/api/api_common.py:112 "%s is invalid attribute for filtering" % invalid_keys
	if ne.Message != "['foo'] is invalid attribute for filtering" {
		t.Errorf("unknown filter message %q", ne.Message)
	}
	_, err := networks.List(e.admin, query{"no_such_attribute": {"1"}}).AllPages(ctx(t))
	expectGCError(t, err, http.StatusBadRequest, "HTTPBadRequest")
	// A value that is not a boolean for a boolean attribute.
	e.adminDo("GET", "/v2.0/networks?shared=maybe", nil).expectError(t, http.StatusBadRequest, "")
}

func names(nets []netView) []string {
	out := make([]string, len(nets))
	for i, n := range nets {
		out[i] = n.Name
	}
	slices.Sort(out)
	return out
}

// TestListFields: fields= returns only the requested attributes, in lists
// and in show.
func TestListFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := createNamed(t, e.admin, "a")
	createNamed(t, e.admin, "b")

	check := func(what string, obj map[string]any, want ...string) {
		t.Helper()
		var keys []string
		for k := range obj {
			keys = append(keys, k)
		}
		if !sameSet(keys, want) {
			t.Errorf("%s: keys %v, want exactly %v", what, sorted(keys), sorted(want))
		}
	}
	type listBody struct {
		Networks []map[string]any `json:"networks"`
	}
	var list listBody
	e.adminDo("GET", "/v2.0/networks?fields=id&fields=name", nil).expect(t, http.StatusOK).into(t, &list)
	if len(list.Networks) != 2 {
		t.Fatalf("fields list: %d networks", len(list.Networks))
	}
	for _, n := range list.Networks {
		check("list fields=id&fields=name", n, "id", "name")
	}
	list = listBody{}
	e.adminDo("GET", "/v2.0/networks?fields=name", nil).expect(t, http.StatusOK).into(t, &list)
	for _, n := range list.Networks {
		check("list fields=name", n, "name")
	}
	list = listBody{}
	e.adminDo("GET", "/v2.0/networks?fields=provider:network_type&fields=router:external&fields=mtu", nil).expect(t, http.StatusOK).into(t, &list)
	for _, n := range list.Networks {
		check("list extension fields", n, "provider:network_type", "router:external", "mtu")
		if n["provider:network_type"] != "routed" || n["router:external"] != false || n["mtu"] != float64(1500) {
			t.Errorf("extension fields values: %v", n)
		}
	}
	// Fields combine with filters.
	list = listBody{}
	e.adminDo("GET", "/v2.0/networks?fields=id&name=a", nil).expect(t, http.StatusOK).into(t, &list)
	if len(list.Networks) != 1 || list.Networks[0]["id"] != a.ID {
		t.Errorf("fields with filter: %v", list.Networks)
	}
	check("list fields=id&name=a", list.Networks[0], "id")

	var one struct {
		Network map[string]any `json:"network"`
	}
	e.adminDo("GET", "/v2.0/networks/"+a.ID+"?fields=name&fields=status&fields=tags", nil).expect(t, http.StatusOK).into(t, &one)
	check("show fields", one.Network, "name", "status", "tags")
	if one.Network["name"] != "a" || one.Network["status"] != "ACTIVE" {
		t.Errorf("show fields values: %v", one.Network)
	}
}

// TestListSorting: sort_key/sort_dir pairs, descending, several keys, and
// 400 for unknown keys or directions and unpaired keys.
func TestListSorting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := createNet(t, e.admin, networks.CreateOpts{Name: "b"})
	a1 := createNet(t, e.admin, networks.CreateOpts{Name: "a", AdminStateUp: ptr(true)})
	c := createNet(t, e.admin, networks.CreateOpts{Name: "c", AdminStateUp: ptr(false)})
	a2 := createNet(t, e.admin, networks.CreateOpts{Name: "a", AdminStateUp: ptr(false)})

	cases := []struct {
		name string
		q    query
		want []string
	}{
		{"name desc, admin_state_up desc", query{"sort_key": {"name", "admin_state_up"}, "sort_dir": {"desc", "desc"}},
			[]string{c.ID, b.ID, a1.ID, a2.ID}},
		{"name asc, admin_state_up asc", query{"sort_key": {"name", "admin_state_up"}, "sort_dir": {"asc", "asc"}},
			[]string{a2.ID, a1.ID, b.ID, c.ID}},
		{"admin_state_up asc, name desc", query{"sort_key": {"admin_state_up", "name"}, "sort_dir": {"asc", "desc"}},
			[]string{c.ID, a2.ID, b.ID, a1.ID}},
	}
	for _, tc := range cases {
		if got := ids(listNets(t, e.admin, tc.q)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	// Single key, descending, through gophercloud's own options; ties
	// (the two "a") may come in any order.
	got := listNets(t, e.admin, networks.ListOpts{SortKey: "name", SortDir: "desc"})
	var gotNames []string
	for _, n := range got {
		gotNames = append(gotNames, n.Name)
	}
	if !slices.Equal(gotNames, []string{"c", "b", "a", "a"}) {
		t.Errorf("name desc: %v", gotNames)
	}
	// id sorts too.
	want := sortedIDs([]netView{a1, a2, b, c})
	slices.Reverse(want)
	if got := ids(listNets(t, e.admin, networks.ListOpts{SortKey: "id", SortDir: "desc"})); !slices.Equal(got, want) {
		t.Errorf("id desc: %v, want %v", got, want)
	}

	// neutron/api/api_common.py:224-251 (get_sorts).
	bad := []string{
		"sort_key=foo&sort_dir=asc",              // not a sort key
		"sort_key=name&sort_dir=up",              // not a direction
		"sort_key=name&sort_key=id&sort_dir=asc", // unpaired
		"sort_key=subnets&sort_dir=asc",          // not sortable
	}
	for _, q := range bad {
		e.adminDo("GET", "/v2.0/networks?"+q, nil).expectError(t, http.StatusBadRequest, "HTTPBadRequest")
	}
}

// TestListSortKeyWithoutSortDir_Neutron: Neutron requires exactly one
// sort_dir per sort_key; a sort_key alone is 400.
//
// Neutron: neutron/api/api_common.py:224-234 (get_sorts:
// "if len(sort_keys) != len(sort_dirs): ... The number of sort_keys and
// sort_dirs must be same"), called for every list through
// SortingEmulatedHelper/SortingNativeHelper (api_common.py:393-397,
// 427-430), built for each GET by neutron/pecan_wsgi/hooks/
// query_parameters.py:43-55,104.
func TestListSortKeyWithoutSortDir_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	createNamed(t, e.admin, "x")
	ne := e.adminDo("GET", "/v2.0/networks?sort_key=name", nil).expectError(t, http.StatusBadRequest, "HTTPBadRequest")
	if ne.Message != "The number of sort_keys and sort_dirs must be same" {
		t.Errorf("message %q", ne.Message)
	}
}

// link is one entry of networks_links.
type link struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

type listPage struct {
	Networks []netView `json:"networks"`
	Links    []link    `json:"networks_links"`
}

func (p listPage) link(rel string) string {
	for _, l := range p.Links {
		if l.Rel == rel {
			return l.Href
		}
	}
	return ""
}

// getPage fetches an absolute URL (a link href) as the admin.
func (e *env) getPage(t *testing.T, href string) listPage {
	t.Helper()
	if !strings.HasPrefix(href, e.srv.URL+"/v2.0/networks?") {
		t.Fatalf("link %q is not an absolute URL of the networks collection", href)
	}
	var p listPage
	e.adminDo("GET", strings.TrimPrefix(href, e.srv.URL), nil).expect(t, http.StatusOK).into(t, &p)
	return p
}

// prevPage is a gophercloud page that pages backwards: its "next" page is
// the one networks_links calls "previous".
type prevPage struct {
	networks.NetworkPage
}

func (p prevPage) NextPageURL() (string, error) {
	var s struct {
		Links []gophercloud.Link `json:"networks_links"`
	}
	if err := p.ExtractInto(&s); err != nil {
		return "", err
	}
	for _, l := range s.Links {
		if l.Rel == "previous" {
			return l.Href, nil
		}
	}
	return "", nil
}

// TestPagination walks 7 networks with limit 3 forwards and backwards,
// with gophercloud's pager and by following networks_links by hand, and
// checks the links Neutron gives on every page.
func TestPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var created []netView
	for i := range 7 {
		created = append(created, createNamed(t, e.admin, fmt.Sprintf("n%d", i)))
	}
	// With a limit Neutron orders by id (api_common.py:362-369 adds the
	// primary key to the sorts).
	all := sortedIDs(created)

	t.Run("pager forwards", func(t *testing.T) {
		var sizes []int
		var got []string
		err := networks.List(e.admin, networks.ListOpts{Limit: 3}).EachPage(ctx(t), func(_ context.Context, p pagination.Page) (bool, error) {
			nets, err := networks.ExtractNetworks(p)
			if err != nil {
				return false, err
			}
			sizes = append(sizes, len(nets))
			for _, n := range nets {
				got = append(got, n.ID)
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sizes, []int{3, 3, 1}) || !slices.Equal(got, all) {
			t.Fatalf("pages %v ids %v, want [3 3 1] %v", sizes, got, all)
		}
		// AllPages concatenates them.
		if got := ids(listNets(t, e.admin, networks.ListOpts{Limit: 3})); !slices.Equal(got, all) {
			t.Fatalf("AllPages: %v, want %v", got, all)
		}
		// A limit that divides the count exactly ends with an empty page.
		if got := ids(listNets(t, e.admin, networks.ListOpts{Limit: 7})); !slices.Equal(got, all) {
			t.Fatalf("AllPages limit 7: %v, want %v", got, all)
		}
		// Paging with a sort order.
		var byName []string
		for _, n := range listNets(t, e.admin, networks.ListOpts{Limit: 2, SortKey: "name", SortDir: "desc"}) {
			byName = append(byName, n.Name)
		}
		if !slices.Equal(byName, []string{"n6", "n5", "n4", "n3", "n2", "n1", "n0"}) {
			t.Fatalf("paged name desc: %v", byName)
		}
	})

	t.Run("pager backwards", func(t *testing.T) {
		start := e.admin.ServiceURL("networks") + "?limit=3&page_reverse=True"
		pager := pagination.NewPager(e.admin, start, func(r pagination.PageResult) pagination.Page {
			return prevPage{networks.NetworkPage{LinkedPageBase: pagination.LinkedPageBase{PageResult: r}}}
		})
		var pages [][]string
		err := pager.EachPage(ctx(t), func(_ context.Context, p pagination.Page) (bool, error) {
			var nets []netView
			if err := networks.ExtractNetworksInto(p.(prevPage).NetworkPage, &nets); err != nil {
				return false, err
			}
			pages = append(pages, ids(nets))
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{all[4:7], all[1:4], all[0:1]}
		if !slices.EqualFunc(pages, want, slices.Equal) {
			t.Fatalf("backwards pages %v, want %v", pages, want)
		}
		allPages, err := pager.AllPages(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		nets, err := networks.ExtractNetworks(allPages.(prevPage).NetworkPage)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range nets {
			got = append(got, n.ID)
		}
		if !slices.Equal(got, slices.Concat(want...)) {
			t.Fatalf("backwards AllPages %v", got)
		}
	})

	t.Run("links forwards", func(t *testing.T) {
		p := e.getPage(t, e.srv.URL+"/v2.0/networks?limit=3")
		var pages [][]string
		for i := 0; ; i++ {
			if i > 5 {
				t.Fatal("too many pages")
			}
			pages = append(pages, ids(p.Networks))
			next, prev := p.link("next"), p.link("previous")
			// api_common.py:259-273: "previous" unless a short reverse
			// page, "next" unless a short forward page.
			if prev == "" {
				t.Fatalf("page %d has no previous link: %v", i, p.Links)
			}
			pu, _ := url.Parse(prev)
			if pu.Query().Get("marker") != p.Networks[0].ID || !strings.EqualFold(pu.Query().Get("page_reverse"), "true") || pu.Query().Get("limit") != "3" {
				t.Fatalf("page %d previous link %q", i, prev)
			}
			if len(p.Networks) < 3 {
				if next != "" {
					t.Fatalf("short last page has a next link: %v", p.Links)
				}
				break
			}
			nu, _ := url.Parse(next)
			if nu.Query().Get("marker") != p.Networks[len(p.Networks)-1].ID || nu.Query().Has("page_reverse") || nu.Query().Get("limit") != "3" {
				t.Fatalf("page %d next link %q", i, next)
			}
			p = e.getPage(t, next)
		}
		want := [][]string{all[0:3], all[3:6], all[6:7]}
		if !slices.EqualFunc(pages, want, slices.Equal) {
			t.Fatalf("forward pages %v, want %v", pages, want)
		}
	})

	t.Run("links backwards", func(t *testing.T) {
		p := e.getPage(t, e.srv.URL+"/v2.0/networks?limit=3&page_reverse=True")
		var pages [][]string
		for i := 0; ; i++ {
			if i > 5 {
				t.Fatal("too many pages")
			}
			pages = append(pages, ids(p.Networks))
			next, prev := p.link("next"), p.link("previous")
			if next == "" {
				t.Fatalf("reverse page %d has no next link: %v", i, p.Links)
			}
			if len(p.Networks) < 3 {
				if prev != "" {
					t.Fatalf("short first page has a previous link: %v", p.Links)
				}
				break
			}
			p = e.getPage(t, prev)
		}
		want := [][]string{all[4:7], all[1:4], all[0:1]}
		if !slices.EqualFunc(pages, want, slices.Equal) {
			t.Fatalf("backward pages %v, want %v", pages, want)
		}
		// Going forwards from the first page gets back to the middle.
		first := e.getPage(t, e.srv.URL+"/v2.0/networks?limit=3&page_reverse=True&marker="+all[1])
		if !slices.Equal(ids(first.Networks), all[0:1]) {
			t.Fatalf("page before %s: %v", all[1], ids(first.Networks))
		}
		mid := e.getPage(t, first.link("next"))
		if !slices.Equal(ids(mid.Networks), all[1:4]) {
			t.Fatalf("next of first page: %v, want %v", ids(mid.Networks), all[1:4])
		}
	})

	t.Run("links keep filters and sorting", func(t *testing.T) {
		p := e.getPage(t, e.srv.URL+"/v2.0/networks?limit=2&sort_key=name&sort_dir=desc&admin_state_up=true")
		var got []string
		for range 10 {
			for _, n := range p.Networks {
				got = append(got, n.Name)
			}
			next := p.link("next")
			if next == "" {
				break
			}
			nu, _ := url.Parse(next)
			if nu.Query().Get("sort_key") != "name" || nu.Query().Get("sort_dir") != "desc" || nu.Query().Get("admin_state_up") != "true" {
				t.Fatalf("next link lost parameters: %s", next)
			}
			p = e.getPage(t, next)
		}
		if !slices.Equal(got, []string{"n6", "n5", "n4", "n3", "n2", "n1", "n0"}) {
			t.Fatalf("followed links by name desc: %v", got)
		}
	})

	t.Run("no limit, no links", func(t *testing.T) {
		r := e.adminDo("GET", "/v2.0/networks", nil).expect(t, http.StatusOK)
		if _, ok := r.object(t)["networks_links"]; ok {
			t.Fatalf("unpaginated list has networks_links: %s", r.Body)
		}
	})

	t.Run("bad limit", func(t *testing.T) {
		for _, l := range []string{"-1", "abc"} {
			e.adminDo("GET", "/v2.0/networks?limit="+l, nil).expectError(t, http.StatusBadRequest, "")
		}
	})
}
