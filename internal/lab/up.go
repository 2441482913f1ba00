package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spinel-net/spinel/internal/agentapi"
	"github.com/spinel-net/spinel/internal/auth"
)

// Addressing (see the package comment).
func torHVAddr(t, n int) (tor, hv string) {
	return fmt.Sprintf("10.255.%d.%d", t, 2*n-2), fmt.Sprintf("10.255.%d.%d", t, 2*n-1)
}
func inetTorAddr(t int) (inet, tor string) {
	return fmt.Sprintf("10.255.0.%d", 2*t-2), fmt.Sprintf("10.255.0.%d", 2*t-1)
}
func mgmtAddr(n int) (ctl, hv string) {
	return fmt.Sprintf("169.254.200.%d", 4*n-3), fmt.Sprintf("169.254.200.%d", 4*n-2)
}
func hvASN(n int) int  { return 65000 + n }
func torASN(t int) int { return 65100 + t }

// Up builds the lab. If it fails half-way, what it created so far is
// recorded and Down removes it.
func Up(ctx context.Context, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	if err := checkHost(); err != nil {
		return err
	}
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.Binary = exe
	}
	if s, err := loadState(o.Dir); err == nil {
		return fmt.Errorf("lab: a lab (prefix %s) is already up in %s: run `spinel lab down --dir %s` first", s.Prefix, o.Dir, o.Dir)
	}
	created := false
	if _, err := os.Stat(o.Dir); errors.Is(err, fs.ErrNotExist) {
		created = true
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(o.Dir, 0o755); err != nil { // FRR runs as user frr
		return err
	}
	prefix, err := newPrefix()
	if err != nil {
		return err
	}
	s := &State{Prefix: prefix, Dir: o.Dir, CreatedDir: created, Resources: map[string]string{}, Unnumbered: o.Uplinks == "unnumbered"}
	if err := s.save(); err != nil {
		return err
	}
	u := &upper{o: o, s: s, ctx: ctx, start: time.Now()}
	if err := u.up(); err != nil {
		s.save()
		return fmt.Errorf("%w\n(logs in %s; remove the partial lab with `spinel lab down --dir %s`)", err, o.Dir, o.Dir)
	}
	s.Complete = true
	if err := s.save(); err != nil {
		return err
	}
	u.summary()
	return nil
}

type upper struct {
	o      Options
	s      *State
	ctx    context.Context
	start  time.Time
	api    *client
	secret string
}

func (u *upper) logf(format string, args ...any) {
	fmt.Fprintf(u.o.Out, "[%5.1fs] %s\n", time.Since(u.start).Seconds(), fmt.Sprintf(format, args...))
}

func (u *upper) ns(name string) string { return u.s.Prefix + "-" + name }

// path returns Dir/name and records it as created by Up.
func (u *upper) path(name string) string {
	u.s.Paths = append(u.s.Paths, name)
	return filepath.Join(u.s.Dir, name)
}

func (u *upper) addNS(name string) (string, error) {
	ns := u.ns(name)
	if _, err := run(u.ctx, "ip", "netns", "add", ns); err != nil {
		return "", err
	}
	u.s.Namespaces = append(u.s.Namespaces, ns)
	if err := u.s.save(); err != nil {
		return "", err
	}
	return ns, ipn(u.ctx, ns, "link", "set", "lo", "up")
}

// veth links ns1:if1 to ns2:if2, addresses each side (if given) and sets
// both up. Links live only in lab namespaces, so deleting those removes them.
func (u *upper) veth(ns1, if1, addr1, ns2, if2, addr2 string) error {
	if err := ipn(u.ctx, ns1, "link", "add", if1, "type", "veth", "peer", "name", if2, "netns", ns2); err != nil {
		return err
	}
	for _, e := range [][3]string{{ns1, if1, addr1}, {ns2, if2, addr2}} {
		if e[2] != "" {
			if err := ipn(u.ctx, e[0], "addr", "add", e[2], "dev", e[1]); err != nil {
				return err
			}
		}
		if err := ipn(u.ctx, e[0], "link", "set", e[1], "up"); err != nil {
			return err
		}
	}
	return nil
}

func (u *upper) up() error {
	ctx, o, s := u.ctx, u.o, u.s
	u.logf("lab %s in %s: %d hypervisors, %d VMs each", s.Prefix, o.Dir, o.Hypervisors, o.VMsPerHypervisor)

	// Namespaces.
	var err error
	if s.Ctl, err = u.addNS("ctl"); err != nil {
		return err
	}
	if s.Internet, err = u.addNS("inet"); err != nil {
		return err
	}
	for t := 1; t <= torCount; t++ {
		ns, err := u.addNS(fmt.Sprintf("tor%d", t))
		if err != nil {
			return err
		}
		s.Tors = append(s.Tors, Tor{Name: fmt.Sprintf("tor%d", t), NS: ns, ASN: torASN(t)})
	}
	for n := 1; n <= o.Hypervisors; n++ {
		ns, err := u.addNS(fmt.Sprintf("hv%d", n))
		if err != nil {
			return err
		}
		_, mg := mgmtAddr(n)
		s.Hypervisors = append(s.Hypervisors, HV{Name: fmt.Sprintf("hv%d", n), NS: ns, ASN: hvASN(n),
			Loopback: fmt.Sprintf("10.253.0.%d", n), MgmtIP: mg})
	}
	if err := s.save(); err != nil {
		return err
	}

	// Links and addresses.
	if err := ipn(ctx, s.Internet, "addr", "add", internetIP+"/24", "dev", "lo"); err != nil {
		return err
	}
	for t, tor := range s.Tors {
		ia, ta := inetTorAddr(t + 1)
		if err := u.veth(s.Internet, tor.Name, ia+"/31", tor.NS, "inet", ta+"/31"); err != nil {
			return err
		}
		if err := ipn(ctx, tor.NS, "addr", "add", fmt.Sprintf("10.254.0.%d/32", t+1), "dev", "lo"); err != nil {
			return err
		}
		if err := ipn(ctx, tor.NS, "route", "add", "default", "via", ia); err != nil {
			return err
		}
	}
	for n1, hv := range s.Hypervisors {
		n := n1 + 1
		if err := ipn(ctx, hv.NS, "addr", "add", hv.Loopback+"/32", "dev", "lo"); err != nil {
			return err
		}
		for t, tor := range s.Tors {
			ta, ha := torHVAddr(t+1, n)
			if s.Unnumbered {
				ta, ha = "", "" // IPv6 link-local only
			} else {
				ta, ha = ta+"/31", ha+"/31"
			}
			if err := u.veth(tor.NS, hv.Name, ta, hv.NS, fmt.Sprintf("up%d", t+1), ha); err != nil {
				return err
			}
		}
		c, h := mgmtAddr(n)
		if err := u.veth(s.Ctl, hv.Name, c+"/30", hv.NS, "mgmt", h+"/30"); err != nil {
			return err
		}
	}
	// Until BGP has converged the internet reaches tenant and floating
	// addresses through both ToRs by these static routes; afterwards the
	// /32s it learns from the ToRs (startSpine) are more specific and win.
	var nh []string
	for t := range s.Tors {
		_, ta := inetTorAddr(t + 1)
		nh = append(nh, "nexthop", "via", ta)
	}
	for _, dst := range []string{"10.0.0.0/8", extCIDR} {
		if err := ipn(ctx, s.Internet, append([]string{"route", "add", dst}, nh...)...); err != nil {
			return err
		}
	}
	routers := []string{s.Internet}
	for _, t := range s.Tors {
		routers = append(routers, t.NS)
	}
	for _, ns := range routers {
		if err := sysctl(ctx, ns, "net.ipv4.ip_forward", "1", "net.ipv4.conf.all.rp_filter", "0",
			"net.ipv4.conf.default.rp_filter", "0", "net.ipv4.fib_multipath_hash_policy", "1",
			"net.ipv4.conf.all.ignore_routes_with_linkdown", "1", "net.ipv6.conf.all.forwarding", "1",
			"net.ipv6.fib_multipath_hash_policy", "1", "net.ipv6.conf.all.ignore_routes_with_linkdown", "1"); err != nil {
			return err
		}
	}
	for _, hv := range s.Hypervisors {
		if err := sysctl(ctx, hv.NS, "net.ipv4.ip_forward", "1", "net.ipv4.fib_multipath_hash_policy", "1",
			"net.ipv4.conf.all.ignore_routes_with_linkdown", "1", "net.ipv4.conf.up1.rp_filter", "0",
			"net.ipv4.conf.up2.rp_filter", "0"); err != nil {
			return err
		}
	}
	u.logf("namespaces and links up")

	// FRR on the ToRs.
	for i := range s.Tors {
		if err := u.startFRR(i); err != nil {
			return err
		}
	}
	if err := u.startSpine(); err != nil {
		return err
	}
	u.logf("FRR running on %d ToRs and the spine", len(s.Tors))

	if err := u.startServer(); err != nil {
		return err
	}
	u.logf("spinel server up in %s (%s)", s.Ctl, s.APIURL)
	if err := u.startAgents(); err != nil {
		return err
	}
	u.logf("%d agents alive (BGP: %v%s)", len(s.Hypervisors), s.BGP, noteSuffix(s.BGPNote))
	if err := u.topology(); err != nil {
		return err
	}
	return nil
}

func noteSuffix(n string) string {
	if n == "" {
		return ""
	}
	return "; " + n
}

// ---- FRR ----

// spineASN is the AS of the internet namespace, the fabric's spine.
const spineASN = 65100

// startSpine runs FRR in the internet namespace, peering with every ToR.
func (u *upper) startSpine() error {
	s := u.s
	dir := u.path("spine")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o777); err != nil { // FRR drops to user frr
		return err
	}
	var nb, af6 strings.Builder
	for t, tor := range s.Tors {
		_, ta := inetTorAddr(t + 1)
		if s.Unnumbered {
			ta = tor.Name // the spine's link to the ToR
		}
		fmt.Fprintf(&nb, "%s neighbor %s description %s\n neighbor %s timers connect 2\n neighbor %s advertisement-interval 0\n",
			neighbor(ta, tor.ASN, s.Unnumbered), ta, tor.Name, ta, ta)
		fmt.Fprintf(&af6, "  neighbor %s activate\n", ta)
	}
	if s.Unnumbered {
		fmt.Fprintf(&nb, " address-family ipv6 unicast\n%s exit-address-family\n", af6.String())
	}
	zebra := fmt.Sprintf("hostname spine\nlog file %s/zebra.log\nno zebra nexthop kernel enable\n", dir)
	bgpd := fmt.Sprintf("hostname spine\nlog file %s/bgpd.log\nrouter bgp %d\n bgp router-id 10.254.0.100\n no bgp ebgp-requires-policy\n bgp bestpath as-path multipath-relax\n timers bgp 3 9\n%s!\n", dir, spineASN, nb.String())
	for f, c := range map[string]string{"zebra.conf": zebra, "bgpd.conf": bgpd} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o644); err != nil {
			return err
		}
	}
	common := []string{"-d", "-F", "traditional", "-z", dir + "/zserv.api", "--vty_socket", dir, "-P", "0"}
	for _, d := range []string{"zebra", "bgpd"} {
		conf := filepath.Join(dir, d+".conf")
		pid := filepath.Join(dir, d+".pid")
		s.Procs = append(s.Procs, Proc{Name: "spine/" + d, PidFile: pid, Match: conf})
		if err := s.save(); err != nil {
			return err
		}
		args := append([]string{"netns", "exec", s.Internet, frrDir + "/" + d, "-f", conf, "-i", pid}, common...)
		if _, err := run(u.ctx, "ip", args...); err != nil {
			return fmt.Errorf("spine %s: %w (log %s/%s.log)", d, err, dir, d)
		}
		sock := filepath.Join(dir, d+".vty")
		if d == "zebra" {
			sock = filepath.Join(dir, "zserv.api")
		}
		if err := waitFor(u.ctx, 10*time.Second, "spine "+d, func() bool { _, err := os.Stat(sock); return err == nil }); err != nil {
			return err
		}
	}
	return nil
}

func (u *upper) startFRR(i int) error {
	s := u.s
	tor := &s.Tors[i]
	t := i + 1
	tor.Dir = u.path(tor.Name)
	if err := os.MkdirAll(tor.Dir, 0o777); err != nil {
		return err
	}
	if err := os.Chmod(tor.Dir, 0o777); err != nil { // FRR drops to user frr
		return err
	}
	var nb, af, af6 strings.Builder
	for n1, hv := range s.Hypervisors {
		_, ha := torHVAddr(t, n1+1)
		if s.Unnumbered {
			ha = hv.Name // the ToR's link to the hypervisor
		}
		fmt.Fprintf(&nb, "%s neighbor %s description %s\n neighbor %s timers connect 2\n neighbor %s advertisement-interval 0\n",
			neighbor(ha, hv.ASN, s.Unnumbered), ha, hv.Name, ha, ha)
		fmt.Fprintf(&af, "  neighbor %s default-originate\n", ha)
		fmt.Fprintf(&af6, "  neighbor %s activate\n  neighbor %s default-originate\n", ha, ha)
	}
	// The internet is the fabric's spine: it learns every VM and floating
	// /32 from both ToRs, so a ToR that loses a hypervisor link reroutes
	// through the spine and the other ToR instead of looping.
	ia, _ := inetTorAddr(t)
	if s.Unnumbered {
		ia = "inet"
	}
	fmt.Fprintf(&nb, "%s neighbor %s description spine\n neighbor %s timers connect 2\n neighbor %s advertisement-interval 0\n",
		neighbor(ia, spineASN, s.Unnumbered), ia, ia, ia)
	fmt.Fprintf(&af6, "  neighbor %s activate\n", ia)
	v6 := ""
	if s.Unnumbered {
		v6 = fmt.Sprintf(" address-family ipv6 unicast\n%s exit-address-family\n", af6.String())
	}
	zebra := fmt.Sprintf("hostname %s\nlog file %s/zebra.log\nno zebra nexthop kernel enable\n", tor.Name, tor.Dir)
	bgpd := fmt.Sprintf(`hostname %s
log file %s/bgpd.log
router bgp %d
 bgp router-id 10.254.0.%d
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp graceful-restart
 bgp bestpath as-path multipath-relax
 timers bgp 3 9
%s address-family ipv4 unicast
%s exit-address-family
%s!
`, tor.Name, tor.Dir, tor.ASN, t, nb.String(), af.String(), v6)
	for f, c := range map[string]string{"zebra.conf": zebra, "bgpd.conf": bgpd} {
		if err := os.WriteFile(filepath.Join(tor.Dir, f), []byte(c), 0o644); err != nil {
			return err
		}
	}
	common := []string{"-d", "-F", "traditional", "-z", tor.Dir + "/zserv.api", "--vty_socket", tor.Dir, "-P", "0"}
	for _, d := range []string{"zebra", "bgpd"} {
		conf := filepath.Join(tor.Dir, d+".conf")
		pid := filepath.Join(tor.Dir, d+".pid")
		s.Procs = append(s.Procs, Proc{Name: tor.Name + "/" + d, PidFile: pid, Match: conf})
		if err := s.save(); err != nil {
			return err
		}
		args := append([]string{"netns", "exec", tor.NS, frrDir + "/" + d, "-f", conf, "-i", pid}, common...)
		if _, err := run(u.ctx, "ip", args...); err != nil {
			return fmt.Errorf("%s %s: %w (log %s/%s.log)", tor.Name, d, err, tor.Dir, d)
		}
		sock := filepath.Join(tor.Dir, d+".vty")
		if d == "zebra" {
			sock = filepath.Join(tor.Dir, "zserv.api")
		}
		if err := waitFor(u.ctx, 10*time.Second, tor.Name+" "+d, func() bool { _, err := os.Stat(sock); return err == nil }); err != nil {
			return err
		}
	}
	return nil
}

// ---- server and agents ----

// startProc starts bin args... inside ns as a daemon of its own session,
// logging to logFile, and records it.
func (u *upper) startProc(name, ns, logFile, match string, env []string, args ...string) error {
	lf, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, u.o.Binary}, args...)...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	// ip netns exec execs the command in place: this pid is the process.
	pidFile := filepath.Join(u.s.Dir, "pids", name+".pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		cmd.Process.Kill()
		return err
	}
	u.s.Procs = append(u.s.Procs, Proc{Name: name, PidFile: pidFile, Match: match})
	// Reap it if it dies while we are still running, so it does not linger
	// as a zombie; the process is not tied to our lifetime otherwise.
	go cmd.Wait()
	return u.s.save()
}

func (u *upper) startServer() error {
	s := u.s
	if err := os.MkdirAll(u.path("pids"), 0o755); err != nil {
		return err
	}
	logs := u.path("logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return err
	}
	data := u.path("server")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	u.secret = randomHex(agentSecret)
	secretFile := u.path("agent-secret")
	if err := os.WriteFile(secretFile, []byte(u.secret+"\n"), 0o600); err != nil {
		return err
	}
	s.APIURL = fmt.Sprintf("http://127.0.0.1:%d", apiPort) // inside the ctl namespace
	if err := u.startProc("server", s.Ctl, filepath.Join(logs, "server.log"), "--data-dir="+data,
		[]string{"SPINEL_AGENT_SECRET=" + u.secret},
		"server", "--listen", fmt.Sprintf("0.0.0.0:%d", apiPort), "--data-dir="+data, "--etcd-unsafe-no-fsync"); err != nil {
		return err
	}
	u.api = newClient(s.Ctl)
	return waitFor(u.ctx, 60*time.Second, "the server's API (log "+filepath.Join(logs, "server.log")+")", func() bool {
		code, _, err := u.api.do(u.ctx, "GET", "/v2.0/networks", nil)
		return err == nil && code == 200
	})
}

// agentHasBGP reports whether the agent binary takes the BGP flags.
func (u *upper) agentHasBGP() bool {
	out, _ := exec.CommandContext(u.ctx, u.o.Binary, "agent", "--help").CombinedOutput()
	return strings.Contains(string(out), "--bgp-asn") && strings.Contains(string(out), "--uplink")
}

func (u *upper) startAgents() error {
	s := u.s
	switch u.o.BGP {
	case "on":
		s.BGP = true
	case "off":
		s.BGPNote = "BGP off by request"
	default:
		s.BGP = u.agentHasBGP()
		if !s.BGP {
			s.BGPNote = "the agent has no --bgp-asn flag yet: hypervisors learn no default route, only same-hypervisor traffic works"
		}
	}
	tokens := u.path("tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return err
	}
	for n1, hv := range s.Hypervisors {
		n := n1 + 1
		tf := filepath.Join(tokens, hv.Name)
		if err := os.WriteFile(tf, []byte(auth.AgentTokens{Secret: []byte(u.secret)}.Issue(hv.Name)+"\n"), 0o600); err != nil {
			return err
		}
		c, _ := mgmtAddr(n)
		args := []string{"agent", "--host", hv.Name, "--server", fmt.Sprintf("http://%s:%d", c, apiPort),
			"--token-file=" + tf, "--heartbeat", "2s", "--log-level", "debug"}
		if s.BGP {
			args = append(args, "--bgp-asn", strconv.Itoa(hv.ASN), "--bgp-router-id", hv.Loopback)
			for t, tor := range s.Tors {
				ta, _ := torHVAddr(t+1, n)
				if s.Unnumbered {
					ta = "unnumbered"
				}
				args = append(args, "--uplink", fmt.Sprintf("up%d:%s:%d", t+1, ta, tor.ASN))
			}
		}
		if err := u.startProc("agent-"+hv.Name, hv.NS, filepath.Join(s.Dir, "logs", "agent-"+hv.Name+".log"), "--token-file="+tf, nil, args...); err != nil {
			return err
		}
	}
	var last string
	err := waitFor(u.ctx, 30*time.Second, "all agents alive", func() bool {
		code, m, err := u.api.do(u.ctx, "GET", "/v2.0/agents", nil)
		if err != nil || code != 200 {
			return false
		}
		alive := 0
		ags, _ := m["agents"].([]any)
		for _, a := range ags {
			if am, _ := a.(map[string]any); am["alive"] == true {
				alive++
			}
		}
		last = fmt.Sprintf("%d of %d alive", alive, len(s.Hypervisors))
		return alive == len(s.Hypervisors)
	})
	if err != nil {
		// An agent that rejected its flags exits at once: say so.
		for _, hv := range s.Hypervisors {
			b, _ := os.ReadFile(filepath.Join(s.Dir, "logs", "agent-"+hv.Name+".log"))
			if strings.Contains(string(b), "unknown flag") {
				return fmt.Errorf("agent %s rejected its flags (rerun with --bgp=off?): %s", hv.Name, lastLines(string(b), 3))
			}
		}
		return fmt.Errorf("%w (%s; logs in %s)", err, last, filepath.Join(s.Dir, "logs"))
	}
	return nil
}

// ---- API topology and VMs ----

func (u *upper) topology() error {
	s, a, ctx := u.s, u.api, u.ctx
	ext, err := a.create(ctx, "networks", "network", map[string]any{"name": "lab-ext", "router:external": true})
	if err != nil {
		return err
	}
	s.Resources["ext_network"] = id(ext)
	extSub, err := a.create(ctx, "subnets", "subnet", map[string]any{"network_id": id(ext), "cidr": extCIDR, "ip_version": 4, "name": "lab-ext"})
	if err != nil {
		return err
	}
	s.Resources["ext_subnet"] = id(extSub)
	net, err := a.create(ctx, "networks", "network", map[string]any{"name": "lab-tenant"})
	if err != nil {
		return err
	}
	s.Resources["network"] = id(net)
	sub, err := a.create(ctx, "subnets", "subnet", map[string]any{"network_id": id(net), "cidr": tenantCIDR, "ip_version": 4, "name": "lab-tenant"})
	if err != nil {
		return err
	}
	s.Resources["subnet"] = id(sub)
	sub6, err := a.create(ctx, "subnets", "subnet", map[string]any{"network_id": id(net), "cidr": tenantCIDR6, "ip_version": 6,
		"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac", "name": "lab-tenant-v6"})
	if err != nil {
		return err
	}
	s.Resources["subnet6"] = id(sub6)
	r, err := a.create(ctx, "routers", "router", map[string]any{"name": "lab-router", "external_gateway_info": map[string]any{"network_id": id(ext)}})
	if err != nil {
		return err
	}
	s.Resources["router"] = id(r)
	if code, m, err := a.do(ctx, "PUT", "/v2.0/routers/"+id(r)+"/add_router_interface", map[string]any{"subnet_id": id(sub)}); err != nil || code != 200 {
		return fmt.Errorf("add_router_interface: %d %v %v", code, m, err)
	}
	// A security group that lets ICMP in from anywhere (egress is open by default).
	sg, err := a.create(ctx, "security-groups", "security_group", map[string]any{"name": "lab"})
	if err != nil {
		return err
	}
	s.Resources["security_group"] = id(sg)
	for _, proto := range []string{"icmp", "tcp", "udp"} {
		if _, err := a.create(ctx, "security-group-rules", "security_group_rule", map[string]any{"security_group_id": id(sg),
			"direction": "ingress", "ethertype": "IPv4", "protocol": proto, "remote_ip_prefix": "0.0.0.0/0"}); err != nil {
			return err
		}
	}
	if _, err := a.create(ctx, "security-group-rules", "security_group_rule", map[string]any{"security_group_id": id(sg),
		"direction": "ingress", "ethertype": "IPv6", "protocol": "ipv6-icmp", "remote_ip_prefix": "::/0"}); err != nil {
		return err
	}
	if err := s.save(); err != nil {
		return err
	}
	u.logf("API: external network %s, tenant subnet %s, router, security group", extCIDR, tenantCIDR)

	// Ports and VM namespaces.
	script := u.path("udhcpc.sh")
	if err := os.WriteFile(script, []byte(udhcpcScript), 0o755); err != nil {
		return err
	}
	for n1, hv := range s.Hypervisors {
		for m := 1; m <= u.o.VMsPerHypervisor; m++ {
			name := fmt.Sprintf("vm%d-%d", n1+1, m)
			p, err := a.create(ctx, "ports", "port", map[string]any{"network_id": id(net), "name": name,
				"binding:host_id": hv.Name, "device_owner": "compute:lab", "security_groups": []string{id(sg)}})
			if err != nil {
				return err
			}
			vm := VM{Name: name, HV: hv.Name, PortID: id(p), Tap: agentapi.TapName(id(p)), MAC: str(p["mac_address"])}
			ips, _ := p["fixed_ips"].([]any)
			for _, ip := range ips {
				a := str(ip.(map[string]any)["ip_address"])
				if strings.Contains(a, ":") {
					vm.IP6 = a
				} else if vm.IP == "" {
					vm.IP = a
				}
			}
			if vm.NS, err = u.addNS(name); err != nil {
				return err
			}
			s.VMs = append(s.VMs, vm)
			if err := s.save(); err != nil {
				return err
			}
			if err := ipn(ctx, hv.NS, "link", "add", vm.Tap, "type", "veth", "peer", "name", "eth0", "netns", vm.NS); err != nil {
				return err
			}
			if err := ipn(ctx, vm.NS, "link", "set", "eth0", "address", vm.MAC); err != nil {
				return err
			}
			if err := ipn(ctx, vm.NS, "link", "set", "eth0", "up"); err != nil {
				return err
			}
		}
	}
	u.logf("%d ports bound, VM namespaces on their taps", len(s.VMs))

	// DHCP, all VMs at once.
	var wg sync.WaitGroup
	errs := make([]error, len(s.VMs))
	for i := range s.VMs {
		wg.Go(func() { errs[i] = u.dhcp(script, &s.VMs[i]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	u.logf("VMs configured by DHCP")

	if len(s.VMs) > 0 {
		fip, err := a.create(ctx, "floatingips", "floatingip", map[string]any{"floating_network_id": id(ext), "port_id": s.VMs[0].PortID})
		if err != nil {
			return err
		}
		s.Resources["floatingip"] = id(fip)
		s.VMs[0].FloatingIP = str(fip["floating_ip_address"])
		u.logf("floating IP %s -> %s (%s)", s.VMs[0].FloatingIP, s.VMs[0].Name, s.VMs[0].IP)
	}
	return s.save()
}

const udhcpcScript = `#!/bin/sh
# udhcpc hook of spinel lab: configure eth0 and record the lease in $LEASE_FILE.
case "$1" in
bound|renew)
  ip -4 addr flush dev "$interface"
  ip addr add "$ip/$mask" dev "$interface"
  [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
  for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
  printf 'ip=%s\nmask=%s\nrouter=%s\nmtu=%s\n' "$ip" "$mask" "$router" "$mtu" > "$LEASE_FILE"
  ;;
esac
`

func (u *upper) dhcp(script string, vm *VM) error {
	lease := filepath.Join(u.s.Dir, "logs", vm.Name+".lease")
	cmd := exec.CommandContext(u.ctx, "ip", "netns", "exec", vm.NS, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "20", "-T", "1", "-s", script)
	cmd.Env = append(os.Environ(), "LEASE_FILE="+lease)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("DHCP in %s (port %s on %s): %v: %s", vm.NS, vm.PortID, vm.HV, err, lastLines(string(out), 5))
	}
	b, err := os.ReadFile(lease)
	if err != nil {
		return fmt.Errorf("DHCP in %s: no lease written", vm.NS)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k == "ip" && v != vm.IP {
			return fmt.Errorf("DHCP in %s: got %s, port has %s", vm.NS, v, vm.IP)
		}
	}
	return nil
}

func (u *upper) summary() {
	s := u.s
	w := u.o.Out
	fmt.Fprintf(w, "\nspinel lab %s is up (%.1fs); state and logs in %s\n", s.Prefix, time.Since(u.start).Seconds(), s.Dir)
	fmt.Fprintf(w, "  internet  %-14s %s/24 on lo\n", s.Internet, internetIP)
	for t, tor := range s.Tors {
		_, ta := inetTorAddr(t + 1)
		fmt.Fprintf(w, "  %-8s  %-14s AS%d, %s to internet, vty: vtysh --vty_socket %s\n", tor.Name, tor.NS, tor.ASN, ta, tor.Dir)
	}
	for n1, hv := range s.Hypervisors {
		a1, _ := torHVAddr(1, n1+1)
		a2, _ := torHVAddr(2, n1+1)
		_, h1 := torHVAddr(1, n1+1)
		_, h2 := torHVAddr(2, n1+1)
		if s.Unnumbered {
			fmt.Fprintf(w, "  %-8s  %-14s AS%d lo %s, up1 and up2 unnumbered (IPv6 link-local), mgmt %s\n", hv.Name, hv.NS, hv.ASN, hv.Loopback, hv.MgmtIP)
			continue
		}
		fmt.Fprintf(w, "  %-8s  %-14s AS%d lo %s, up1 %s (tor1 %s), up2 %s (tor2 %s), mgmt %s\n", hv.Name, hv.NS, hv.ASN, hv.Loopback, h1, a1, h2, a2, hv.MgmtIP)
	}
	fmt.Fprintf(w, "  server    %-14s API http://127.0.0.1:%d inside it (ip netns exec %s curl ...)\n", s.Ctl, apiPort, s.Ctl)
	for _, vm := range s.VMs {
		f := ""
		if vm.FloatingIP != "" {
			f = ", floating " + vm.FloatingIP
		}
		fmt.Fprintf(w, "  %-8s  %-14s on %s, %s %s, tap %s%s\n", vm.Name, vm.NS, vm.HV, vm.IP, vm.IP6, vm.Tap, f)
	}
	bgp := "on"
	if !s.BGP {
		bgp = "OFF (" + s.BGPNote + ")"
	}
	fmt.Fprintf(w, "  agent BGP: %s\n", bgp)
	fmt.Fprintf(w, "`spinel lab status --dir %s` shows sessions, routes and reachability; `spinel lab down --dir %s` removes it all.\n", s.Dir, s.Dir)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// neighbor is an FRR neighbor statement: by address, or by interface for
// an unnumbered session.
func neighbor(peer string, asn int, unnumbered bool) string {
	if unnumbered {
		return fmt.Sprintf(" neighbor %s interface remote-as %d\n", peer, asn)
	}
	return fmt.Sprintf(" neighbor %s remote-as %d\n", peer, asn)
}
