package integration

import (
	"net/http"
	"slices"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions"
	"github.com/gophercloud/gophercloud/v2/openstack/utils"
)

// TestVersions: GET / lists v2.0 as CURRENT with a self link, without
// needing an identity, and gophercloud's version discovery reads it.
func TestVersions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var doc struct {
		Versions []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Links  []link `json:"links"`
		} `json:"versions"`
	}
	e.adminDo("GET", "/", nil).expect(t, http.StatusOK).into(t, &doc)
	if len(doc.Versions) != 1 {
		t.Fatalf("versions: %+v", doc)
	}
	v := doc.Versions[0]
	if v.ID != "v2.0" || v.Status != "CURRENT" {
		t.Fatalf("version %+v", v)
	}
	if len(v.Links) != 1 || v.Links[0].Rel != "self" || v.Links[0].Href != e.srv.URL+"/v2.0/" {
		t.Fatalf("version links %+v, want self %s/v2.0/", v.Links, e.srv.URL)
	}
	// Any caller may read it.
	e.do("GET", "/", nil, projectHeaders("someone", "reader")).expect(t, http.StatusOK)

	versions, err := utils.GetServiceVersions(ctx(t), e.admin.ProviderClient, e.srv.URL+"/", true)
	if err != nil {
		t.Fatalf("gophercloud version discovery: %v", err)
	}
	if len(versions) != 1 || versions[0].Major != 2 || versions[0].Minor != 0 || versions[0].Status != utils.StatusCurrent {
		t.Fatalf("discovered versions %+v", versions)
	}

	// /v2.0/ lists the resources with self links.
	var root struct {
		Resources []struct {
			Name       string `json:"name"`
			Collection string `json:"collection"`
			Links      []link `json:"links"`
		} `json:"resources"`
	}
	e.adminDo("GET", "/v2.0/", nil).expect(t, http.StatusOK).into(t, &root)
	found := false
	for _, r := range root.Resources {
		if r.Collection == "networks" && r.Name == "network" {
			found = len(r.Links) == 1 && r.Links[0].Rel == "self" && r.Links[0].Href == e.srv.URL+"/v2.0/networks"
		}
	}
	if !found {
		t.Fatalf("/v2.0/ lacks networks with a self link: %+v", root)
	}
}

// TestExtensions: /v2.0/extensions lists the aliases of what is
// implemented; /v2.0/extensions/{alias} shows one and 404s for unknown ones.
func TestExtensions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pages, err := extensions.List(e.admin).AllPages(ctx(t))
	if err != nil {
		t.Fatalf("listing extensions: %v", err)
	}
	exts, err := extensions.ExtractExtensions(pages)
	if err != nil {
		t.Fatal(err)
	}
	var aliases []string
	for _, x := range exts {
		if x.Alias == "" || x.Name == "" || x.Updated == "" || x.Links == nil {
			t.Errorf("extension without alias, name, updated or links: %+v", x)
		}
		if slices.Contains(aliases, x.Alias) {
			t.Errorf("extension %s listed twice", x.Alias)
		}
		aliases = append(aliases, x.Alias)
	}
	// What the tests in this package rely on.
	for _, want := range []string{
		"network-mtu", "net-mtu-writable", "provider", "external-net", "standard-attr-tag",
		"standard-attr-revisions", "standard-attr-timestamp", "standard-attr-description",
		"revision-if-match", "quotas", "quota_details", "pagination", "sorting",
		"filter-validation", "project-id", "port-security", "l2_adjacency",
	} {
		if !slices.Contains(aliases, want) {
			t.Errorf("extension %q not listed (have %v)", want, aliases)
		}
	}

	x, err := extensions.Get(ctx(t), e.admin, "provider").Extract()
	if err != nil {
		t.Fatalf("show provider extension: %v", err)
	}
	if x.Alias != "provider" || x.Name != "Provider Network" {
		t.Fatalf("provider extension: %+v", x)
	}
	// Members read extensions too.
	e.do("GET", "/v2.0/extensions/external-net", nil, projectHeaders("p")).expect(t, http.StatusOK)

	// neutron/api/extensions.py: "Extension with alias %s does not exist".
	e.adminDo("GET", "/v2.0/extensions/no-such-extension", nil).expect(t, http.StatusNotFound)
	_, err = extensions.Get(ctx(t), e.admin, "no-such-extension").Extract()
	expectGCError(t, err, http.StatusNotFound, "")
}
