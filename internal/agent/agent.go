// Package agent is spinel's hypervisor agent. It follows the Felix
// pattern: the stream from the servers only replaces the desired state and
// marks it dirty; one loop applies dirty state to the data path in
// batches, never before the first complete state has arrived; everything
// it programs is recognisable as its own, so a restarted agent reconciles
// by mark-and-sweep and drops no traffic; failures are retried with
// backoff; port statuses and heartbeats are reported back.
package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spinel-net/spinel/internal/agentapi"
)

// Programmer is one part of the data path (routes, firewall, DHCP, ...).
// Apply makes it hold exactly st and returns the ids of the ports it has
// fully programmed; an error leaves the state dirty for a retry while the
// parts that succeeded stay applied.
type Programmer interface {
	Name() string
	Apply(st *agentapi.State) (ready map[string]bool, err error)
}

// Advertiser announces the host's prefixes to the fabric (the BGP
// speaker). SetAdvertised replaces the whole set.
type Advertiser interface {
	SetAdvertised(prefixes []netip.Prefix) error
}

// NATApplier realises floating IP NAT plans (package nat). Apply returns
// the ids of the plans whose rules are in place.
type NATApplier interface {
	Apply(plans []agentapi.NATPlan) (realized []string, err error)
}

// WithNAT makes the agent realise the host's floating IP NAT plans with n.
func (a *Agent) WithNAT(n NATApplier) *Agent {
	a.nat = n
	return a
}

// PeerStatus is one BGP session as the agent reports it.
type PeerStatus struct {
	Interface string  `json:"interface"`
	Peer      string  `json:"peer"`
	State     string  `json:"state"`
	UptimeSec float64 `json:"uptime_seconds"`
	Sent      int     `json:"prefixes_sent"`
	Received  int     `json:"prefixes_received"`
}

// Config is what an agent needs.
type Config struct {
	Host       string        // this hypervisor's name (binding:host_id)
	Servers    []string      // server base URLs, tried in turn
	Token      string        // this host's agent token
	Heartbeat  time.Duration // report interval, default 10s
	Resync     time.Duration // full re-apply interval, default 60s
	HTTPClient *http.Client
}

// Agent runs the control loop. Create it with New.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	progs []Programmer

	mu           sync.Mutex
	desired      *agentapi.State
	hash         string
	statuses     map[string]string // last reported port statuses
	statusesNext map[string]string // statuses of the last apply
	realized     []string
	ready        bool // the first complete state has been applied
	wake         chan struct{}
	stats        Stats

	adv        Advertiser
	advertised []netip.Prefix      // what adv announces now
	extra      []netip.Prefix      // always announced (the host's loopback)
	peers      func() []PeerStatus // BGP session status for reports, may be nil
	nat        NATApplier          // may be nil
}

// WithAdvertiser makes the agent announce, through adv, the addresses of
// every port it has programmed and the extra prefixes (its loopback): a
// prefix is announced only after its data path is in place and withdrawn
// before it is removed. peers, if not nil, reports session status.
func (a *Agent) WithAdvertiser(adv Advertiser, extra []netip.Prefix, peers func() []PeerStatus) *Agent {
	a.adv, a.extra, a.peers = adv, extra, peers
	return a
}

// Stats are counters for /metrics and tests.
type Stats struct {
	Applies, ApplyFailures, StatesReceived int
	LastApply                              time.Duration
}

// New returns an agent programming progs in order.
func New(cfg Config, log *slog.Logger, progs ...Programmer) *Agent {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 60 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	return &Agent{cfg: cfg, log: log, progs: progs, statuses: map[string]string{}, wake: make(chan struct{}, 1)}
}

// Ready reports whether the first complete state has been applied.
func (a *Agent) Ready() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ready
}

// Stats returns a copy of the counters.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// Run follows the servers and applies state until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	if a.cfg.Host == "" || len(a.cfg.Servers) == 0 || a.cfg.Token == "" {
		return errors.New("agent: host, servers and token are required")
	}
	go a.follow(ctx)
	heartbeat := time.NewTicker(a.cfg.Heartbeat)
	defer heartbeat.Stop()
	resync := time.NewTicker(a.cfg.Resync)
	defer resync.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	backoff := 100 * time.Millisecond
	dirty := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.wake:
			dirty = true
		case <-resync.C:
			dirty = true
		case <-retry.C:
			dirty = true
		case <-heartbeat.C:
			a.report(ctx, true)
		}
		if !dirty {
			continue
		}
		a.mu.Lock()
		st := a.desired
		a.mu.Unlock()
		if st == nil {
			continue // no kernel change before the first complete state
		}
		a.withdrawGone(st)
		waiting, err := a.apply(st)
		a.announce(st)
		switch {
		case err != nil:
			a.log.Warn("apply failed; retrying", "err", err, "retry_in", backoff.String())
			retry.Reset(backoff)
			backoff = min(backoff*2, 10*time.Second)
		case waiting:
			// Some taps are not there yet (the VM is being started): look
			// again soon.
			backoff = 100 * time.Millisecond
			retry.Reset(200 * time.Millisecond)
		default:
			backoff = 100 * time.Millisecond
		}
		dirty = false
		a.report(ctx, false)
	}
}

// apply runs every programmer and computes port statuses: ACTIVE when all
// programmers have the port ready, DOWN otherwise (admin down, or the tap
// is not there yet). waiting reports admin-up ports not yet ready.
func (a *Agent) apply(st *agentapi.State) (waiting bool, err error) {
	start := time.Now()
	readyAll := map[string]int{}
	var errs []error
	for _, p := range a.progs {
		ready, err := p.Apply(st)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
		}
		for id := range ready {
			readyAll[id]++
		}
	}
	statuses := map[string]string{}
	for _, port := range st.Ports {
		switch {
		case !port.AdminStateUp:
			statuses[port.ID] = "DOWN"
		case readyAll[port.ID] == len(a.progs):
			statuses[port.ID] = "ACTIVE"
		default:
			statuses[port.ID] = "DOWN"
			waiting = true
		}
	}
	// A floating IP is realised once its port is programmed and its NAT
	// rules are in place (then it is announced, then reported ACTIVE).
	natDone := map[string]bool{}
	if a.nat != nil {
		var active []agentapi.NATPlan
		for _, n := range st.NATPlans {
			if statuses[n.PortID] == "ACTIVE" {
				active = append(active, n)
			}
		}
		done, err := a.nat.Apply(active)
		if err != nil {
			errs = append(errs, fmt.Errorf("nat: %w", err))
		}
		for _, id := range done {
			natDone[id] = true
		}
	}
	var realized []string
	for _, n := range st.NATPlans {
		if statuses[n.PortID] == "ACTIVE" && natDone[n.ID] {
			realized = append(realized, n.ID)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Applies++
	a.stats.LastApply = time.Since(start)
	a.pending(statuses, realized)
	if len(errs) > 0 {
		a.stats.ApplyFailures++
		return waiting, errors.Join(errs...)
	}
	a.ready = true
	return waiting, nil
}

// portPrefixes returns the host prefixes of a port: its addresses and its
// allowed-address-pair prefixes.
func portPrefixes(p agentapi.Port) []netip.Prefix {
	var out []netip.Prefix
	for _, f := range p.FixedIPs {
		if ad, err := netip.ParseAddr(f.IPAddress); err == nil {
			out = append(out, netip.PrefixFrom(ad, ad.BitLen()))
		}
	}
	for _, ap := range p.AllowedAddressPairs {
		if pr, err := netip.ParsePrefix(ap.IPAddress); err == nil {
			out = append(out, pr.Masked())
		} else if ad, err := netip.ParseAddr(ap.IPAddress); err == nil {
			out = append(out, netip.PrefixFrom(ad, ad.BitLen()))
		}
	}
	return out
}

// withdrawGone withdraws, before the data path changes, every announced
// prefix that the new desired state no longer has.
func (a *Agent) withdrawGone(st *agentapi.State) {
	if a.adv == nil {
		return
	}
	want := map[netip.Prefix]bool{}
	for _, p := range a.extra {
		want[p] = true
	}
	for _, p := range st.Ports {
		if p.AdminStateUp {
			for _, pr := range portPrefixes(p) {
				want[pr] = true
			}
		}
	}
	for _, n := range st.NATPlans {
		if ad, err := netip.ParseAddr(n.FloatingIP); err == nil {
			want[netip.PrefixFrom(ad, ad.BitLen())] = true
		}
	}
	keep := slices.DeleteFunc(slices.Clone(a.advertised), func(p netip.Prefix) bool { return !want[p] })
	if len(keep) != len(a.advertised) {
		a.setAdvertised(keep)
	}
}

// announce advertises the prefixes of every port now ACTIVE (and the
// floating IPs realised), after the data path for them is programmed.
func (a *Agent) announce(st *agentapi.State) {
	if a.adv == nil {
		return
	}
	a.mu.Lock()
	statuses, realized := a.statusesNext, slices.Clone(a.realized)
	a.mu.Unlock()
	set := slices.Clone(a.extra)
	for _, p := range st.Ports {
		if statuses[p.ID] == "ACTIVE" {
			set = append(set, portPrefixes(p)...)
		}
	}
	for _, n := range st.NATPlans {
		if slices.Contains(realized, n.ID) {
			if ad, err := netip.ParseAddr(n.FloatingIP); err == nil {
				set = append(set, netip.PrefixFrom(ad, ad.BitLen()))
			}
		}
	}
	slices.SortFunc(set, func(x, y netip.Prefix) int { return strings.Compare(x.String(), y.String()) })
	set = slices.Compact(set)
	if !slices.Equal(set, a.advertised) {
		a.setAdvertised(set)
	}
}

func (a *Agent) setAdvertised(set []netip.Prefix) {
	if err := a.adv.SetAdvertised(set); err != nil {
		a.log.Warn("advertising prefixes", "err", err, "prefixes", len(set))
		return
	}
	a.advertised = set
}

// pending records statuses to report; must hold mu.
func (a *Agent) pending(statuses map[string]string, realized []string) {
	a.statusesNext = statuses
	a.realized = realized
}

// report sends statuses that changed (or everything, with the heartbeat).
func (a *Agent) report(ctx context.Context, heartbeat bool) {
	a.mu.Lock()
	rep := agentapi.Report{Host: a.cfg.Host, RealizedNAT: slices.Clone(a.realized),
		Configurations: map[string]any{"ports": len(a.statusesNext), "ready": a.ready, "advertised_prefixes": len(a.advertised)}}
	if a.peers != nil {
		rep.Configurations["bgp_peers"] = a.peers()
	}
	for id, s := range a.statusesNext {
		if heartbeat || a.statuses[id] != s {
			rep.Ports = append(rep.Ports, agentapi.PortStatus{ID: id, Status: s})
		}
	}
	a.mu.Unlock()
	if !heartbeat && len(rep.Ports) == 0 {
		return
	}
	if err := a.post(ctx, "/agent/v1/report", rep); err != nil {
		a.log.Warn("report failed", "err", err)
		return
	}
	a.mu.Lock()
	for _, ps := range rep.Ports {
		a.statuses[ps.ID] = ps.Status
	}
	a.mu.Unlock()
}

func (a *Agent) post(ctx context.Context, path string, v any) error {
	body, _ := json.Marshal(v)
	var last error
	for _, srv := range a.cfg.Servers {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+a.cfg.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := a.cfg.HTTPClient.Do(req)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return nil
		}
		last = fmt.Errorf("%s%s: HTTP %d", srv, path, resp.StatusCode)
	}
	return last
}

// follow keeps a stream open to one of the servers, resuming with the
// hash of the last state received, so a reconnect re-sends nothing when
// nothing changed.
func (a *Agent) follow(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for i := 0; ctx.Err() == nil; i++ {
		srv := a.cfg.Servers[i%len(a.cfg.Servers)]
		err := a.stream(ctx, srv)
		if ctx.Err() != nil {
			return
		}
		a.log.Warn("state stream ended; reconnecting", "server", srv, "err", err, "in", backoff.String())
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (a *Agent) stream(ctx context.Context, srv string) error {
	a.mu.Lock()
	hash := a.hash
	a.mu.Unlock()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv+"/agent/v1/stream?hash="+hash, nil)
	req.Header.Set("Authorization", "Bearer "+a.cfg.Token)
	resp, err := a.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var msg struct {
			agentapi.State
			Hash string `json:"hash"`
		}
		if err := json.Unmarshal(line, &msg); err != nil {
			return fmt.Errorf("decoding state: %w", err)
		}
		st := msg.State
		a.mu.Lock()
		a.desired, a.hash = &st, msg.Hash
		a.stats.StatesReceived++
		a.mu.Unlock()
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
	return sc.Err()
}
