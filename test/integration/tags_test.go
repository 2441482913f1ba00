package integration

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/attributestags"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
)

// TestTags walks the tag sub-resource of a network (standard-attr-tag):
// replace all, add one, confirm, delete one, delete all.
func TestTags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := createNamed(t, e.admin, "tagged")
	c := e.admin

	tags, err := attributestags.ReplaceAll(ctx(t), c, "networks", n.ID, attributestags.ReplaceAllOpts{Tags: []string{"red", "blue", "green"}}).Extract()
	if err != nil {
		t.Fatalf("replace all: %v", err)
	}
	if !sameSet(tags, []string{"red", "blue", "green"}) {
		t.Fatalf("replace all returned %v", tags)
	}
	if tags, err = attributestags.List(ctx(t), c, "networks", n.ID).Extract(); err != nil || !sameSet(tags, []string{"red", "blue", "green"}) {
		t.Fatalf("list after replace: %v %v", tags, err)
	}
	afterReplace := getNet(t, c, n.ID)
	if !sameSet(afterReplace.Tags, []string{"red", "blue", "green"}) {
		t.Fatalf("network shows tags %v", afterReplace.Tags)
	}
	// Tags are standard attributes: changing them bumps the revision
	// (neutron/db/models/tag.py:31 revises_on_change).
	if afterReplace.RevisionNumber <= n.RevisionNumber {
		t.Errorf("revision_number %d after replacing tags, was %d", afterReplace.RevisionNumber, n.RevisionNumber)
	}

	// Replacing drops tags not in the new set.
	if tags, err = attributestags.ReplaceAll(ctx(t), c, "networks", n.ID, attributestags.ReplaceAllOpts{Tags: []string{"red", "blue"}}).Extract(); err != nil || !sameSet(tags, []string{"red", "blue"}) {
		t.Fatalf("second replace: %v %v", tags, err)
	}

	// Add one (201), idempotently.
	if err := attributestags.Add(ctx(t), c, "networks", n.ID, "yellow").ExtractErr(); err != nil {
		t.Fatalf("add: %v", err)
	}
	if err := attributestags.Add(ctx(t), c, "networks", n.ID, "yellow").ExtractErr(); err != nil {
		t.Fatalf("adding an existing tag again: %v", err)
	}
	e.adminDo("PUT", "/v2.0/networks/"+n.ID+"/tags/yellow", nil).expect(t, http.StatusCreated)

	// Confirm: 204 when present, 404 TagNotFound when not.
	if ok, err := attributestags.Confirm(ctx(t), c, "networks", n.ID, "yellow").Extract(); err != nil || !ok {
		t.Fatalf("confirm yellow: %v %v", ok, err)
	}
	if ok, err := attributestags.Confirm(ctx(t), c, "networks", n.ID, "purple").Extract(); err != nil || ok {
		t.Fatalf("confirm purple: %v %v", ok, err)
	}
	e.adminDo("GET", "/v2.0/networks/"+n.ID+"/tags/yellow", nil).expect(t, http.StatusNoContent)
	e.adminDo("GET", "/v2.0/networks/"+n.ID+"/tags/purple", nil).expectError(t, http.StatusNotFound, "TagNotFound")

	if tags, _ = attributestags.List(ctx(t), c, "networks", n.ID).Extract(); !sameSet(tags, []string{"red", "blue", "yellow"}) {
		t.Fatalf("tags after add: %v", tags)
	}

	// Delete one; deleting a missing one is 404 TagNotFound.
	if err := attributestags.Delete(ctx(t), c, "networks", n.ID, "red").ExtractErr(); err != nil {
		t.Fatalf("delete red: %v", err)
	}
	err = attributestags.Delete(ctx(t), c, "networks", n.ID, "red").ExtractErr()
	expectGCError(t, err, http.StatusNotFound, "TagNotFound")
	e.adminDo("DELETE", "/v2.0/networks/"+n.ID+"/tags/nosuchtag", nil).expectError(t, http.StatusNotFound, "TagNotFound")
	if tags, _ = attributestags.List(ctx(t), c, "networks", n.ID).Extract(); !sameSet(tags, []string{"blue", "yellow"}) {
		t.Fatalf("tags after delete: %v", tags)
	}

	// Delete all.
	if err := attributestags.DeleteAll(ctx(t), c, "networks", n.ID).ExtractErr(); err != nil {
		t.Fatalf("delete all: %v", err)
	}
	if tags, err = attributestags.List(ctx(t), c, "networks", n.ID).Extract(); err != nil || len(tags) != 0 {
		t.Fatalf("tags after delete all: %v %v", tags, err)
	}
	r := e.adminDo("GET", "/v2.0/networks/"+n.ID+"/tags", nil).expect(t, http.StatusOK)
	if !jsonEqual(r.object(t), map[string]any{"tags": []any{}}) {
		t.Fatalf("empty tags body: %s", r.Body)
	}
	if got := getNet(t, c, n.ID); got.Tags == nil || len(got.Tags) != 0 {
		t.Fatalf("network tags after delete all: %#v", got.Tags)
	}

	// Replace-all bodies that are not {"tags": [strings]} are 400.
	for _, body := range []string{`{}`, `{"tags": "red"}`, `{"tags": [1]}`, `[]`} {
		e.adminDo("PUT", "/v2.0/networks/"+n.ID+"/tags", rawBody(body)).expectError(t, http.StatusBadRequest, "")
	}

	// Tags of a network that does not exist.
	missing := "00000000-0000-0000-0000-000000000000"
	for _, req := range []struct{ method, path string }{
		{"GET", "/tags"}, {"GET", "/tags/x"}, {"PUT", "/tags/x"}, {"DELETE", "/tags/x"}, {"DELETE", "/tags"},
	} {
		e.adminDo(req.method, "/v2.0/networks/"+missing+req.path, nil).expectError(t, http.StatusNotFound, "")
	}
	e.adminDo("PUT", "/v2.0/networks/"+missing+"/tags", map[string]any{"tags": []string{"a"}}).expectError(t, http.StatusNotFound, "")
}

// TestTagFilters: tags (all of), tags-any (one of), not-tags (not all of)
// and not-tags-any (none of), comma separated or repeated
// (neutron/objects/tag.py:37-100, _apply_tag_filters).
func TestTagFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mk := func(name string, tags ...string) netView {
		n := createNamed(t, e.admin, name)
		if len(tags) > 0 {
			if _, err := attributestags.ReplaceAll(ctx(t), e.admin, "networks", n.ID, attributestags.ReplaceAllOpts{Tags: tags}).Extract(); err != nil {
				t.Fatal(err)
			}
		}
		return n
	}
	ab := mk("ab", "a", "b")
	a := mk("a", "a")
	bc := mk("bc", "b", "c")
	none := mk("none")

	cases := []struct {
		name string
		opts networks.ListOptsBuilder
		want []netView
	}{
		{"tags=a", networks.ListOpts{Tags: "a"}, []netView{ab, a}},
		{"tags=a,b", networks.ListOpts{Tags: "a,b"}, []netView{ab}},
		{"tags=a&tags=b", query{"tags": {"a", "b"}}, []netView{ab}},
		{"tags=a,c", networks.ListOpts{Tags: "a,c"}, nil},
		{"tags=x", networks.ListOpts{Tags: "x"}, nil},
		{"tags-any=a,c", networks.ListOpts{TagsAny: "a,c"}, []netView{ab, a, bc}},
		{"tags-any=c&tags-any=x", query{"tags-any": {"c", "x"}}, []netView{bc}},
		{"not-tags=a,b", networks.ListOpts{NotTags: "a,b"}, []netView{a, bc, none}},
		{"not-tags=a", networks.ListOpts{NotTags: "a"}, []netView{bc, none}},
		{"not-tags-any=a,c", networks.ListOpts{NotTagsAny: "a,c"}, []netView{none}},
		{"not-tags-any=x", networks.ListOpts{NotTagsAny: "x"}, []netView{ab, a, bc, none}},
		{"tags=b&not-tags=c", networks.ListOpts{Tags: "b", NotTags: "c"}, []netView{ab}},
		{"tags-any=a,b&not-tags-any=c", networks.ListOpts{TagsAny: "a,b", NotTagsAny: "c"}, []netView{ab, a}},
		{"tags=a&name=a", networks.ListOpts{Tags: "a", Name: "a"}, []netView{a}},
	}
	for _, c := range cases {
		got := listNets(t, e.admin, c.opts)
		if !slices.Equal(sortedIDs(got), sortedIDs(c.want)) {
			t.Errorf("%s: got %v, want %v", c.name, names(got), names(c.want))
		}
	}
}

// TestTagValidation_Neutron: Neutron validates tags as non-empty strings
// of at most 255 characters (commas allowed) and refuses a replace-all
// list with duplicates or that is not a list.
//
// Neutron: neutron/extensions/tagging.py:38 (MAX_TAG_LEN = 255), :68-71
// (validate_tag: validate_string(tag, 255)), :74-79 (validate_tags:
// validate_list_of_unique_strings -> InvalidInput, 400), used by
// update/update_all at :122-145.
func TestTagValidation_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := createNamed(t, e.admin, "tagged")
	path := "/v2.0/networks/" + n.ID + "/tags"

	t.Run("duplicates in replace-all are 400", func(t *testing.T) {
		e.adminDo("PUT", path, map[string]any{"tags": []string{"a", "a"}}).expectError(t, http.StatusBadRequest, "InvalidInput")
	})
	t.Run("null instead of a list is 400", func(t *testing.T) {
		// validate_list_of_unique_strings(None): "'None' is not a list"
		// (neutron_lib/api/validators/__init__.py:105-108).
		e.adminDo("PUT", path, rawBody(`{"tags": null}`)).expectError(t, http.StatusBadRequest, "InvalidInput")
	})
	t.Run("255 characters is a valid tag", func(t *testing.T) {
		long := strings.Repeat("x", 255)
		e.adminDo("PUT", path+"/"+long, nil).expect(t, http.StatusCreated)
		e.adminDo("PUT", path, map[string]any{"tags": []string{long, strings.Repeat("y", 100)}}).expect(t, http.StatusOK)
	})
	t.Run("256 characters is not", func(t *testing.T) {
		e.adminDo("PUT", path+"/"+strings.Repeat("x", 256), nil).expectError(t, http.StatusBadRequest, "")
	})
	t.Run("a comma is allowed in a tag", func(t *testing.T) {
		e.adminDo("PUT", path, map[string]any{"tags": []string{"a,b"}}).expect(t, http.StatusOK)
	})
}
