package apiserver

import (
	"net/http"

	"github.com/spinel-net/spinel/internal/auth"
	"github.com/spinel-net/spinel/internal/neutron"
)

func (s *Server) versions(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"versions": []any{map[string]any{
		"id": "v2.0", "status": "CURRENT",
		"links": []any{map[string]string{"rel": "self", "href": baseURL(r) + "/v2.0/"}},
	}}})
	return nil
}

func (s *Server) v2root(w http.ResponseWriter, r *http.Request) error {
	var out []any
	for _, res := range s.svc.Resources() {
		out = append(out, map[string]any{
			"name": res.Singular, "collection": res.Plural,
			"links": []any{map[string]string{"rel": "self", "href": baseURL(r) + "/v2.0/" + res.URLPath()}},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"resources": out})
	return nil
}

// extension is one entry of /v2.0/extensions.
type extension struct {
	Alias       string `json:"alias"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Updated     string `json:"updated"`
	Links       []any  `json:"links"`
}

// extensions lists only what spinel really implements.
var extensions = []extension{
	{"standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes", "2016-02-10T10:00:00-00:00", nil},
	{"standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources.", "2016-04-11T10:00:00-00:00", nil},
	{"standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.", "2016-09-12T10:00:00-00:00", nil},
	{"standard-attr-tag", "Tag support for resources with standard attribute: subnet, trunk, network_segment_range, router, network, policy, subnetpool, port, security_group, floatingip", "Enables to set tag on resources with standard attribute.", "2017-01-01T00:00:00-00:00", nil},
	{"revision-if-match", "If-Match constraints based on revision_number", "Extension indicating that If-Match based on revision_number is supported.", "2016-12-11T00:00:00-00:00", nil},
	{"project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled.", "2016-09-09T09:09:09-09:09", nil},
	{"pagination", "Pagination support", "Extension that indicates that pagination is enabled.", "2016-06-12T00:00:00-00:00", nil},
	{"sorting", "Sorting support", "Extension that indicates that sorting is enabled.", "2016-06-12T00:00:00-00:00", nil},
	{"filter-validation", "Filter parameters validation", "Provides validation on filter parameters.", "2018-03-21T10:00:00-00:00", nil},
	{"empty-string-filtering", "Empty String Filtering Extension", "Allow filtering by attributes with empty string value", "2018-05-01T10:00:00-00:00", nil},
	{"network-mtu", "Network MTU", "Provides MTU attribute for a network resource.", "2015-03-25T10:00:00-00:00", nil},
	{"net-mtu-writable", "Network MTU (writable)", "Provides a writable MTU attribute for a network resource.", "2017-07-12T00:00:00-00:00", nil},
	{"provider", "Provider Network", "Expose mapping of virtual networks to physical networks", "2012-09-07T10:00:00-00:00", nil},
	{"external-net", "Neutron external network", "Adds external network attribute to network resource.", "2013-01-14T10:00:00-00:00", nil},
	{"rbac-policies", "RBAC Policies", "Allows creation and modification of policies that control tenant access to resources.", "2015-06-17T12:15:12-00:00", nil},
	{"l2_adjacency", "L2 Adjacency", "Display L2 Adjacency for Neutron Networks.", "2016-04-12T16:00:00-00:00", nil},
	{"port-security", "Port Security", "Provides port security", "2012-07-23T10:00:00-00:00", nil},
	{"binding", "Port Binding", "Expose port bindings of a virtual port to external application", "2014-02-03T10:00:00-00:00", nil},
	{"allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs", "2013-07-23T10:00:00-00:00", nil},
	{"security-group", "security-group", "The security groups extension.", "2012-10-05T10:00:00-00:00", nil},
	{"stateful-security-group", "Stateful security group", "Indicates if the security group is stateful or not", "2019-11-26T09:00:00-00:00", nil},
	{"quotas", "Quota management support", "Expose functions for quotas management per project", "2012-07-29T10:00:00-00:00", nil},
	{"quota_details", "Quota details management support", "Expose functions for quotas usage statistics per project", "2017-02-10T10:00:00-00:00", nil},
	{"network_availability_zone", "Network Availability Zone", "Availability zone support for network.", "2015-01-01T10:00:00-00:00", nil},
	{"router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.", "2012-07-20T10:00:00-00:00", nil},
	{"ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway", "2013-03-28T10:00:00-00:00", nil},
	{"extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router", "2013-02-01T10:00:00-00:00", nil},
	{"extraroute-atomic", "Atomically add/remove extra routes", "Edit extra routes of a router on server side by atomically adding/removing extra routes", "2019-07-10T00:00:00-00:00", nil},
	{"l3-ha", "HA Router extension", "Adds HA capability to routers.", "2014-04-26T00:00:00-00:00", nil},
	{"dvr", "Distributed Virtual Router", "Enables configuration of Distributed Virtual Routers.", "2014-06-1T10:00:00-00:00", nil},
	{"fip-port-details", "Floating IP Port Details Extension", "Add port_details attribute to Floating IP resource", "2018-04-09T10:00:00-00:00", nil},
	{"flavors", "Neutron Service Flavors", "Flavor specification for Neutron advanced services.", "2015-09-17T10:00:00-00:00", nil},
	{"l3-flavors", "Router Flavor Extension", "Flavor support for routers.", "2016-05-17T00:00:00-00:00", nil},
	{"service-type", "Neutron Service Type Management", "API for retrieving service providers for Neutron advanced services", "2013-01-20T00:00:00-00:00", nil},
	{"ip-substring-filtering", "IP address substring filtering", "Provides IP address substring filtering when listing ports", "2017-11-28T09:00:00-00:00", nil},
}

func (s *Server) listExtensions(w http.ResponseWriter, r *http.Request) error {
	out := make([]extension, len(extensions))
	copy(out, extensions)
	for i := range out {
		out[i].Links = []any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"extensions": out})
	return nil
}

func (s *Server) showExtension(w http.ResponseWriter, r *http.Request) error {
	alias := r.PathValue("alias")
	for _, e := range extensions {
		if e.Alias == alias {
			e.Links = []any{}
			writeJSON(w, http.StatusOK, map[string]any{"extension": e})
			return nil
		}
	}
	return neutron.NotFound("HTTPNotFound", "Extension with alias %s does not exist", alias)
}

func (s *Server) quotaRoutes() {
	s.handle("GET /v2.0/quotas", func(w http.ResponseWriter, r *http.Request) error {
		q, err := s.svc.Quotas(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"quotas": q})
		return nil
	})
	s.handle("GET /v2.0/quotas/tenant", func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, http.StatusOK, map[string]any{"tenant": map[string]string{"tenant_id": auth.From(r.Context()).ProjectID}})
		return nil
	})
	s.handle("GET /v2.0/quotas/{project}", func(w http.ResponseWriter, r *http.Request) error {
		q, err := s.svc.QuotaOf(r.Context(), r.PathValue("project"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"quota": q})
		return nil
	})
	s.handle("GET /v2.0/quotas/{project}/default", func(w http.ResponseWriter, r *http.Request) error {
		q, err := s.svc.DefaultQuotaOf(r.Context(), r.PathValue("project"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"quota": q})
		return nil
	})
	s.handle("GET /v2.0/quotas/{project}/details", func(w http.ResponseWriter, r *http.Request) error {
		q, err := s.svc.QuotaDetails(r.Context(), r.PathValue("project"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"quota": q})
		return nil
	})
	s.handle("PUT /v2.0/quotas/{project}", func(w http.ResponseWriter, r *http.Request) error {
		body, err := readBody(r)
		if err != nil {
			return err
		}
		inner, err := envelope(body, "quota")
		if err != nil {
			return err
		}
		q, err := s.svc.SetQuota(r.Context(), r.PathValue("project"), inner)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"quota": q})
		return nil
	})
	s.handle("DELETE /v2.0/quotas/{project}", func(w http.ResponseWriter, r *http.Request) error {
		if err := s.svc.ResetQuota(r.Context(), r.PathValue("project")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
