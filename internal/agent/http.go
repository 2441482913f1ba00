package agent

import (
	"fmt"
	"io"
	"net/http"
)

// Handler serves /healthz (the loop runs), /readyz (the first complete
// state is applied) and /metrics (Prometheus text) on the agent's local port.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !a.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		st := a.Stats()
		ready := 0
		if a.Ready() {
			ready = 1
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# HELP spinel_agent_applies_total Data path applications.\n# TYPE spinel_agent_applies_total counter\nspinel_agent_applies_total %d\n", st.Applies)
		fmt.Fprintf(w, "# HELP spinel_agent_apply_failures_total Failed data path applications.\n# TYPE spinel_agent_apply_failures_total counter\nspinel_agent_apply_failures_total %d\n", st.ApplyFailures)
		fmt.Fprintf(w, "# HELP spinel_agent_states_received_total Desired states received from servers.\n# TYPE spinel_agent_states_received_total counter\nspinel_agent_states_received_total %d\n", st.StatesReceived)
		fmt.Fprintf(w, "# HELP spinel_agent_last_apply_seconds Duration of the last application.\n# TYPE spinel_agent_last_apply_seconds gauge\nspinel_agent_last_apply_seconds %g\n", st.LastApply.Seconds())
		fmt.Fprintf(w, "# HELP spinel_agent_ready Whether the first complete state is applied.\n# TYPE spinel_agent_ready gauge\nspinel_agent_ready %d\n", ready)
		if a.peers != nil {
			fmt.Fprintf(w, "# HELP spinel_agent_bgp_session_established Whether the BGP session of an uplink is established.\n# TYPE spinel_agent_bgp_session_established gauge\n")
			peers := a.peers()
			for _, p := range peers {
				up := 0
				if p.State == "established" || p.State == "ESTABLISHED" || p.State == "Established" {
					up = 1
				}
				fmt.Fprintf(w, "spinel_agent_bgp_session_established{interface=%q,peer=%q} %d\n", p.Interface, p.Peer, up)
			}
			fmt.Fprintf(w, "# HELP spinel_agent_bgp_prefixes_sent Prefixes advertised on a session.\n# TYPE spinel_agent_bgp_prefixes_sent gauge\n")
			for _, p := range peers {
				fmt.Fprintf(w, "spinel_agent_bgp_prefixes_sent{interface=%q,peer=%q} %d\n", p.Interface, p.Peer, p.Sent)
			}
			fmt.Fprintf(w, "# HELP spinel_agent_bgp_prefixes_received Prefixes received on a session.\n# TYPE spinel_agent_bgp_prefixes_received gauge\n")
			for _, p := range peers {
				fmt.Fprintf(w, "spinel_agent_bgp_prefixes_received{interface=%q,peer=%q} %d\n", p.Interface, p.Peer, p.Received)
			}
		}
	})
	return mux
}
