package apiserver

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/spinel-net/spinel/internal/agentapi"
	"github.com/spinel-net/spinel/internal/neutron"
)

// agentRoutes serves /agent/v1: per-host state and reports for spinel
// agents, authenticated by their per-host tokens. An agent sees only its
// own host's state and reports only for its own ports.
func (s *Server) agentRoutes() {
	s.mux.HandleFunc("GET /agent/v1/state", func(w http.ResponseWriter, r *http.Request) {
		host, ok := s.agentHost(w, r)
		if !ok {
			return
		}
		st, hash := s.svc.HostState(host)
		w.Header().Set("X-Spinel-State-Hash", hash)
		writeJSON(w, http.StatusOK, st)
	})
	// The stream sends the host's complete state as one JSON document per
	// line whenever it changes, starting at once unless the client's
	// ?hash= (from its last state) is still current, and a blank line
	// every 15 s to keep the connection alive.
	s.mux.HandleFunc("GET /agent/v1/stream", func(w http.ResponseWriter, r *http.Request) {
		host, ok := s.agentHost(w, r)
		if !ok {
			return
		}
		fl, _ := w.(http.Flusher)
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		last := r.URL.Query().Get("hash")
		keepalive := time.NewTicker(15 * time.Second)
		defer keepalive.Stop()
		enc := json.NewEncoder(w)
		for {
			changed := s.svc.HostStateChanged()
			st, hash := s.svc.HostState(host)
			if hash != last {
				if err := enc.Encode(struct {
					agentapi.State
					Hash string `json:"hash"`
				}{st, hash}); err != nil {
					return
				}
				if fl != nil {
					fl.Flush()
				}
				last = hash
			}
			select {
			case <-r.Context().Done():
				return
			case <-keepalive.C:
				if _, err := io.WriteString(w, "\n"); err != nil {
					return
				}
				if fl != nil {
					fl.Flush()
				}
			case <-changed:
				// Coalesce bursts: a batch of changes becomes one state.
				select {
				case <-time.After(20 * time.Millisecond):
				case <-r.Context().Done():
					return
				}
			}
		}
	})
	s.mux.HandleFunc("POST /agent/v1/report", func(w http.ResponseWriter, r *http.Request) {
		host, ok := s.agentHost(w, r)
		if !ok {
			return
		}
		var rep agentapi.Report
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes))
		if err == nil {
			err = json.Unmarshal(body, &rep)
		}
		if err != nil {
			s.writeError(w, r, s.log, neutron.BadRequest("Malformed agent report"))
			return
		}
		if err := s.svc.RecordReport(r.Context(), host, rep); err != nil {
			s.writeError(w, r, s.log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Server) agentHost(w http.ResponseWriter, r *http.Request) (string, bool) {
	host, err := s.agentTokens.AgentHost(r)
	if err != nil {
		s.writeError(w, r, s.log, neutron.Newf(http.StatusUnauthorized, "HTTPUnauthorized", "This agent API needs a valid per-host agent token."))
		return "", false
	}
	return host, true
}
