package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/spinel-net/spinel/internal/apiserver"
	"github.com/spinel-net/spinel/internal/auth"
	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/store"
)

// StatusPath is where admins read the state of the whole deployment. It is
// outside /v2.0 so that it can never clash with a Neutron URL.
const StatusPath = "/spinel/v1/status"

// Status is the body of GET StatusPath.
type Status struct {
	// Server is the id of the server that answered.
	Server string `json:"server"`
	// Servers are the live servers sharing the etcd cluster, by id.
	Servers []ServerInfo `json:"servers"`
	// Leaders maps each singleton (e.g. "l3-reconciler") to the id of
	// the server leading it.
	Leaders   map[string]string `json:"leaders"`
	Etcd      EtcdStatus        `json:"etcd"`
	Resources map[string]int    `json:"resources"` // documents per kind
	Revision  int64             `json:"revision"`  // etcd revision the counts reflect
}

// EtcdStatus is the etcd cluster as the answering server sees it.
type EtcdStatus struct {
	// Endpoints are the client URLs the server currently uses.
	Endpoints []string       `json:"endpoints"`
	Members   []store.Member `json:"members"`
	// Error says why the members could not be listed.
	Error string `json:"error,omitempty"`
}

// statusHandler serves StatusPath to admins (an apiserver.Route, so the
// API's request handling and error mapping apply).
type statusHandler struct {
	st    *store.Store
	cache *cache.Cache
	kinds []string
	self  string
	log   *slog.Logger
}

// route is the status endpoint as an API route.
func (h *statusHandler) route() apiserver.Route {
	return apiserver.Route{Pattern: "GET " + StatusPath, Handle: h.serve}
}

func (h *statusHandler) serve(w http.ResponseWriter, r *http.Request) error {
	if !auth.From(r.Context()).Admin {
		return neutron.Forbidden("get_spinel_status")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	b, err := json.Marshal(h.status(ctx))
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
	return nil
}

// status gathers the report; parts that cannot be read are reported as
// such rather than failing the whole request.
func (h *statusHandler) status(ctx context.Context) Status {
	s := Status{Server: h.self, Servers: []ServerInfo{}, Resources: map[string]int{}, Leaders: map[string]string{}}
	s.Revision = h.cache.Rev()
	for _, k := range h.kinds {
		s.Resources[k] = h.cache.Count(k, nil)
	}
	if leaders, err := h.st.Leaders(ctx); err == nil {
		s.Leaders = leaders
	} else {
		h.log.Warn("status: reading leaders", "err", err)
	}
	if resp, err := h.st.Client.Get(ctx, serversPrefix(h.st), clientv3.WithPrefix()); err == nil {
		for _, kv := range resp.Kvs {
			var info ServerInfo
			if json.Unmarshal(kv.Value, &info) != nil {
				continue
			}
			info.Leads = []string{}
			for name, leader := range s.Leaders {
				if leader == info.ID {
					info.Leads = append(info.Leads, name)
				}
			}
			slices.Sort(info.Leads)
			s.Servers = append(s.Servers, info)
		}
	} else {
		h.log.Warn("status: listing servers", "err", err)
	}
	slices.SortFunc(s.Servers, func(a, b ServerInfo) int { return strings.Compare(a.ID, b.ID) })
	s.Etcd.Endpoints = h.st.Client.Endpoints()
	if members, err := h.st.Members(ctx); err == nil {
		s.Etcd.Members = members
	} else {
		s.Etcd.Error = err.Error()
	}
	return s
}

func kindNames(kinds []*cache.Kind) []string {
	out := make([]string, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k.Name)
	}
	slices.Sort(out)
	return out
}
