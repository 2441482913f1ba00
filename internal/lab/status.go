package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
)

// Probe is one cell of the reachability matrix.
type Probe struct {
	From   string // VM name or "internet"
	To     string // VM name, "gateway", "internet" or "fip:VM"
	Target string // the address pinged
	OK     bool
}

// Status prints each ToR's BGP summary and routes, and the reachability
// matrix.
func Status(ctx context.Context, o Options, w io.Writer) error {
	if err := o.defaults(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("spinel lab must run as root")
	}
	s, err := loadState(o.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no lab in %s (spinel lab up)", o.Dir)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "spinel lab %s (%s)", s.Prefix, s.Dir)
	if !s.Complete {
		fmt.Fprint(w, " INCOMPLETE: up failed or is still running")
	}
	fmt.Fprintln(w)
	if s.BGP {
		fmt.Fprintln(w, "agent BGP: on")
	} else {
		fmt.Fprintf(w, "agent BGP: OFF (%s)\n", s.BGPNote)
	}
	if s.Ctl != "" {
		fmt.Fprintln(w, "\n== hypervisors' BGP sessions (API: /v2.0/agents)")
		writeAgentSessions(ctx, w, s)
	}
	for _, tor := range s.Tors {
		fmt.Fprintf(w, "\n== %s (%s, AS%d): show bgp summary\n", tor.Name, tor.NS, tor.ASN)
		out, err := exec.CommandContext(ctx, "vtysh", "--vty_socket", tor.Dir, "-c", "show bgp summary").CombinedOutput()
		if err != nil {
			fmt.Fprintf(w, "vtysh: %v\n", err)
		}
		w.Write(out)
		fmt.Fprintf(w, "\n== %s: ip route\n", tor.Name)
		out, err = exec.CommandContext(ctx, "ip", "-n", tor.NS, "route").CombinedOutput()
		if err != nil {
			fmt.Fprintf(w, "ip route: %v\n", err)
		}
		w.Write(out)
		if s.Unnumbered {
			fmt.Fprintf(w, "\n== %s: ip -6 route\n", tor.Name)
			out, err = exec.CommandContext(ctx, "ip", "-n", tor.NS, "-6", "route").CombinedOutput()
			if err != nil {
				fmt.Fprintf(w, "ip -6 route: %v\n", err)
			}
			w.Write(out)
		}
	}
	if s.Ctl != "" {
		fmt.Fprintln(w, "\n== floating IPs (API)")
		writeFIPs(ctx, w, s)
	}
	probes := Matrix(ctx, s)
	fmt.Fprintln(w, "\n== reachability (ping -c1 -W1)")
	writeMatrix(w, s, probes)
	return nil
}

// LoadState returns the state of the lab in o.Dir.
func LoadState(o Options) (*State, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	return loadState(o.Dir)
}

// Matrix pings, in parallel, between every pair of VMs, from every VM to
// its gateway and to the internet, and from the internet to every floating
// IP.
func Matrix(ctx context.Context, s *State) []Probe {
	var ps []Probe
	for _, a := range s.VMs {
		for _, b := range s.VMs {
			if a.Name != b.Name {
				ps = append(ps, Probe{From: a.Name, To: b.Name, Target: b.IP})
			}
		}
		for _, b := range s.VMs {
			if a.Name != b.Name && b.IP6 != "" {
				ps = append(ps, Probe{From: a.Name, To: b.Name + " v6", Target: b.IP6})
			}
		}
		ps = append(ps, Probe{From: a.Name, To: "gateway", Target: tenantGW})
		ps = append(ps, Probe{From: a.Name, To: "internet", Target: internetIP})
	}
	for _, b := range s.VMs {
		if b.FloatingIP != "" {
			ps = append(ps, Probe{From: "internet", To: "fip:" + b.Name, Target: b.FloatingIP})
		}
	}
	nsOf := map[string]string{"internet": s.Internet}
	for _, v := range s.VMs {
		nsOf[v.Name] = v.NS
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range ps {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			p := &ps[i]
			if p.Target == "" {
				return
			}
			p.OK = exec.CommandContext(ctx, "ip", "netns", "exec", nsOf[p.From], "ping", "-n", "-q", "-c", "1", "-W", "1", p.Target).Run() == nil
		})
	}
	wg.Wait()
	return ps
}

func writeMatrix(w io.Writer, s *State, ps []Probe) {
	cols := []string{}
	for _, v := range s.VMs {
		cols = append(cols, v.Name)
	}
	for _, v := range s.VMs {
		if v.IP6 != "" {
			cols = append(cols, v.Name+" v6")
		}
	}
	cols = append(cols, "gateway", "internet")
	cell := map[[2]string]string{}
	for _, p := range ps {
		r := "FAIL"
		if p.OK {
			r = "OK"
		}
		cell[[2]string{p.From, p.To}] = r
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "from \\ to\t%s\t\n", strings.Join(cols, "\t"))
	for _, v := range s.VMs {
		row := []string{fmt.Sprintf("%s (%s)", v.Name, v.IP)}
		for _, c := range cols {
			r, ok := cell[[2]string{v.Name, c}]
			if !ok {
				r = "-"
			}
			row = append(row, r)
		}
		fmt.Fprintf(tw, "%s\t\n", strings.Join(row, "\t"))
	}
	tw.Flush()
	for _, p := range ps {
		if p.From == "internet" {
			r := "FAIL"
			if p.OK {
				r = "OK"
			}
			fmt.Fprintf(w, "internet -> %s (%s): %s\n", strings.TrimPrefix(p.To, "fip:"), p.Target, r)
		}
	}
}

// writeFIPs lists the floating IPs and their status as the server has them.
func writeFIPs(ctx context.Context, w io.Writer, s *State) {
	code, m, err := newClient(s.Ctl).do(ctx, "GET", "/v2.0/floatingips", nil)
	if err != nil || code != 200 {
		fmt.Fprintf(w, "API: %d %v\n", code, err)
		return
	}
	fips, _ := m["floatingips"].([]any)
	for _, f := range fips {
		fm, _ := f.(map[string]any)
		fmt.Fprintf(w, "%s -> %s (port %s): %s\n", str(fm["floating_ip_address"]), str(fm["fixed_ip_address"]), str(fm["port_id"]), str(fm["status"]))
	}
}

// writeAgentSessions prints each agent's BGP sessions as it reports them.
func writeAgentSessions(ctx context.Context, w io.Writer, s *State) {
	code, m, err := newClient(s.Ctl).do(ctx, "GET", "/v2.0/agents", nil)
	if err != nil || code != 200 {
		fmt.Fprintf(w, "API: %d %v\n", code, err)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tALIVE\tUPLINK\tPEER\tSTATE\tUPTIME\tSENT\tRECEIVED\t")
	ags, _ := m["agents"].([]any)
	slices.SortFunc(ags, func(a, b any) int {
		am, _ := a.(map[string]any)
		bm, _ := b.(map[string]any)
		return strings.Compare(str(am["host"]), str(bm["host"]))
	})
	for _, a := range ags {
		am, _ := a.(map[string]any)
		conf, _ := am["configurations"].(map[string]any)
		peers, _ := conf["bgp_peers"].([]any)
		if len(peers) == 0 {
			fmt.Fprintf(tw, "%s\t%v\t-\t-\t-\t-\t-\t-\t\n", str(am["host"]), am["alive"])
		}
		for _, p := range peers {
			pm, _ := p.(map[string]any)
			fmt.Fprintf(tw, "%s\t%v\t%v\t%v\t%v\t%v\t%v\t%v\t\n", str(am["host"]), am["alive"], pm["interface"], pm["peer"], pm["state"],
				pm["uptime_seconds"], pm["prefixes_sent"], pm["prefixes_received"])
		}
	}
	tw.Flush()
}
