package apiserver

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/query"
	"github.com/spinel-net/spinel/internal/service"
)

// flavorRoutes registers the flavor/service-profile association
// sub-resource and the service provider list. Flavors and service
// profiles themselves are ordinary resources.
func (s *Server) flavorRoutes() {
	sub := "/v2.0/flavors/{id}/service_profiles"
	s.handle("POST "+sub, func(w http.ResponseWriter, r *http.Request) error {
		body, err := readBody(r)
		if err != nil {
			return err
		}
		inner, err := envelope(body, "service_profile")
		if err != nil {
			return err
		}
		pid, err := s.svc.BindFlavorProfile(r.Context(), r.PathValue("id"), inner)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, map[string]any{"service_profile": map[string]string{"id": pid}})
		return nil
	})
	// Neutron has no working list handler (500); list the bound profiles.
	s.handle("GET "+sub, func(w http.ResponseWriter, r *http.Request) error {
		ids, err := s.svc.FlavorProfileIDs(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		out := make([]map[string]string, len(ids))
		for i, id := range ids {
			out[i] = map[string]string{"id": id}
		}
		writeJSON(w, http.StatusOK, map[string]any{"service_profiles": out})
		return nil
	})
	s.handle("GET "+sub+"/{pid}", func(w http.ResponseWriter, r *http.Request) error {
		if err := s.svc.FlavorProfileBound(r.Context(), r.PathValue("id"), r.PathValue("pid")); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"service_profile": map[string]string{"id": r.PathValue("pid")}})
		return nil
	})
	s.handle("PUT "+sub+"/{pid}", func(w http.ResponseWriter, r *http.Request) error {
		return neutron.BadRequest("Cannot update read-only attribute id")
	})
	s.handle("DELETE "+sub+"/{pid}", func(w http.ResponseWriter, r *http.Request) error {
		if err := s.svc.UnbindFlavorProfile(r.Context(), r.PathValue("id"), r.PathValue("pid")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	s.handle("GET /v2.0/service-providers", s.listServiceProviders)
}

func (s *Server) listServiceProviders(w http.ResponseWriter, r *http.Request) error {
	params := r.URL.Query()
	q, err := query.Parse(params, &service.ServiceProvider{})
	if err != nil {
		return err
	}
	var match []model.Object
	for _, p := range s.svc.ServiceProviders(r.Context()) {
		if q.Match(p) {
			match = append(match, p)
		}
	}
	q.Sorted(match)
	page := q.Page(match)
	var buf bytes.Buffer
	buf.WriteString(`{"service_providers":[`)
	for i, p := range page {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := model.AppendJSON(&buf, p, q.Fields, nil); err != nil {
			return err
		}
	}
	buf.WriteByte(']')
	if links := q.Links(page, baseURL(r)+r.URL.Path, params); links != nil {
		b, err := json.Marshal(links)
		if err != nil {
			return err
		}
		buf.WriteString(`,"service_providers_links":`)
		buf.Write(b)
	}
	buf.WriteByte('}')
	writeRaw(w, http.StatusOK, buf.Bytes())
	return nil
}
