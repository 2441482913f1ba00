package apiserver

import (
	"encoding/json"
	"net/http"

	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/service"
)

// routerActionRoutes registers the router member actions.
func (s *Server) routerActionRoutes() {
	res, ok := s.svc.Resource("routers")
	if !ok {
		return
	}
	iface := func(add bool) func(http.ResponseWriter, *http.Request) error {
		return func(w http.ResponseWriter, r *http.Request) error {
			body, err := readBody(r)
			if err != nil {
				return err
			}
			var info *service.InterfaceInfo
			if add {
				info, err = s.svc.AddRouterInterface(r.Context(), r.PathValue("id"), body)
			} else {
				info, err = s.svc.RemoveRouterInterface(r.Context(), r.PathValue("id"), body)
			}
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, info)
			return nil
		}
	}
	routes := func(add bool) func(http.ResponseWriter, *http.Request) error {
		return func(w http.ResponseWriter, r *http.Request) error {
			body, err := readBody(r)
			if err != nil {
				return err
			}
			inner, err := envelope(body, "router")
			if err != nil {
				return err
			}
			var rts []model.Route
			if raw, ok := inner["routes"]; !ok || json.Unmarshal(raw, &rts) != nil {
				return neutron.BadRequest("Invalid input for routes: a list of {destination, nexthop} is expected.")
			}
			router, err := s.svc.ChangeExtraRoutes(r.Context(), r.PathValue("id"), rts, add)
			if err != nil {
				return err
			}
			return writeOne(w, http.StatusOK, res, service.Entry{Obj: router}, nil, s.svc.Viewer(r.Context(), res))
		}
	}
	s.handle("PUT /v2.0/routers/{id}/add_router_interface", iface(true))
	s.handle("PUT /v2.0/routers/{id}/remove_router_interface", iface(false))
	s.handle("PUT /v2.0/routers/{id}/add_extraroutes", routes(true))
	s.handle("PUT /v2.0/routers/{id}/remove_extraroutes", routes(false))
}
