// Package lab builds a small routed leaf/ToR fabric out of network
// namespaces on one Linux machine, runs a spinel server and one spinel agent
// per hypervisor in it, and creates a tenant topology through the API:
// the end-to-end test bed and the demo of DESIGN.md ("spinel lab").
//
// Everything the lab creates carries a short random prefix and is recorded
// in a state file under Options.Dir, so Down removes exactly that.
//
// Topology and addressing (T = ToR 1..2, N = hypervisor 1..H):
//
//	PFX-inet  internet and spine: 203.0.113.1/24 on lo, FRR AS 65100;
//	          link "torT" 10.255.0.(2T-2)/31, eBGP to torT
//	PFX-torT  FRR zebra+bgpd, AS 6510T, router-id 10.254.0.T;
//	          link "inet" 10.255.0.(2T-1)/31 (static default towards inet),
//	          link "hvN", eBGP to hvN with default-originate (IPv4 and IPv6)
//	PFX-hvN   agent, AS 65000+N, loopback 10.253.0.N/32 on lo;
//	          uplinks "up1"/"up2", management "mgmt" 169.254.200.(4N-2)/30
//	PFX-ctl   spinel server on 0.0.0.0:9696 (embedded etcd), link "hvN"
//	          169.254.200.(4N-3)/30 to each hypervisor: the management path
//	          never touches the fabric
//	PFX-vmN-M VM M of hypervisor N: eth0 (MAC of its port) on the veth tap
//	          agentapi.TapName(port) in PFX-hvN, addressed by DHCP (IPv4,
//	          10.0.0.0/24) and SLAAC (IPv6, 2001:db8:10::/64)
//
// With unnumbered uplinks (the default) the ToR-hypervisor links carry only
// their IPv6 link-local addresses and every session (ToR-hypervisor and
// spine-ToR) runs over link-local addresses with extended next hop,
// carrying IPv4 and IPv6. With numbered uplinks the link to hvN is
// 10.255.T.(2N-2)/31 on the ToR and 10.255.T.(2N-1)/31 on the hypervisor
// and the sessions carry IPv4 only.
//
// The internet has static ECMP routes to 10.0.0.0/8 and 198.51.100.0/24 via
// both ToRs until BGP has converged.
package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Options configures Up, Status and Down.
type Options struct {
	Dir              string    // state, configuration and logs (default /run/spinel-lab)
	Hypervisors      int       // default 2
	VMsPerHypervisor int       // default 1
	Binary           string    // spinel binary for the server and agents (default os.Executable())
	Out              io.Writer // progress and summary (default os.Stdout)
	// BGP: "auto" (default: pass the agent BGP flags if `spinel agent --help`
	// lists --bgp-asn), "on" or "off".
	BGP string
	// Uplinks: "unnumbered" (default: hypervisor and spine links carry only
	// IPv6 link-local addresses; one session per link carries IPv4 and
	// IPv6) or "numbered" (IPv4 /31s; sessions carry IPv4 only).
	Uplinks string
}

const (
	DefaultDir  = "/run/spinel-lab"
	stateFile   = "state.json"
	apiPort     = 9696
	frrDir      = "/usr/lib/frr"
	torCount    = 2
	internetIP  = "203.0.113.1"
	extCIDR     = "198.51.100.0/24"
	tenantCIDR  = "10.0.0.0/24"
	tenantGW    = "10.0.0.1"
	tenantCIDR6 = "2001:db8:10::/64"
	agentSecret = 32 // bytes of random agent secret
)

func (o *Options) defaults() error {
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	o.Dir = abs
	if o.Hypervisors == 0 {
		o.Hypervisors = 2
	}
	if o.VMsPerHypervisor == 0 {
		o.VMsPerHypervisor = 1
	}
	if o.Hypervisors < 1 || o.Hypervisors > 60 {
		return fmt.Errorf("lab: --hypervisors must be 1..60")
	}
	if o.VMsPerHypervisor < 0 || o.VMsPerHypervisor > 50 {
		return fmt.Errorf("lab: --vms-per-hypervisor must be 0..50")
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.BGP == "" {
		o.BGP = "auto"
	}
	switch o.Uplinks {
	case "":
		o.Uplinks = "unnumbered"
	case "unnumbered", "numbered":
	default:
		return fmt.Errorf("lab: --uplinks must be unnumbered or numbered, not %q", o.Uplinks)
	}
	return nil
}

// State is what Up created, as recorded in Dir/state.json.
type State struct {
	Prefix      string            `json:"prefix"`
	Dir         string            `json:"dir"`
	CreatedDir  bool              `json:"created_dir"` // Dir itself was created by Up
	Namespaces  []string          `json:"namespaces"`  // in creation order
	Paths       []string          `json:"paths"`       // entries of Dir created by Up
	Procs       []Proc            `json:"procs"`
	Hypervisors []HV              `json:"hypervisors"`
	Tors        []Tor             `json:"tors"`
	Internet    string            `json:"internet"` // namespace
	Ctl         string            `json:"ctl"`      // namespace of the server
	APIURL      string            `json:"api_url"`  // as seen from ctl and the hypervisors
	BGP         bool              `json:"bgp"`      // agents were given BGP flags
	BGPNote     string            `json:"bgp_note,omitempty"`
	Unnumbered  bool              `json:"unnumbered"` // fabric links without IPv4 addresses
	VMs         []VM              `json:"vms"`
	Resources   map[string]string `json:"resources,omitempty"` // API ids: ext_net, net, router, ...
	Complete    bool              `json:"complete"`
}

// Proc is a process Up started; PidFile holds its pid, Match a string its
// command line contains (so a recycled pid is never signalled).
type Proc struct {
	Name    string `json:"name"`
	PidFile string `json:"pid_file"`
	Match   string `json:"match"`
}

// HV is one hypervisor.
type HV struct {
	Name     string `json:"name"` // host name (binding:host_id)
	NS       string `json:"ns"`
	ASN      int    `json:"asn"`
	Loopback string `json:"loopback"`
	MgmtIP   string `json:"mgmt_ip"`
}

// Tor is one ToR.
type Tor struct {
	Name string `json:"name"`
	NS   string `json:"ns"`
	ASN  int    `json:"asn"`
	Dir  string `json:"dir"` // FRR config, pid files, vty sockets
}

// VM is one VM namespace.
type VM struct {
	Name       string `json:"name"`
	NS         string `json:"ns"`
	HV         string `json:"hv"`
	PortID     string `json:"port_id"`
	Tap        string `json:"tap"`
	MAC        string `json:"mac"`
	IP         string `json:"ip"`
	IP6        string `json:"ip6,omitempty"` // SLAAC address on the IPv6 subnet
	FloatingIP string `json:"floating_ip,omitempty"`
}

func (s *State) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.Dir, stateFile))
}

func loadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("lab: %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &s, nil
}

// checkHost refuses to run without root or without Debian's FRR.
func checkHost() error {
	if os.Geteuid() != 0 {
		return errors.New("spinel lab must run as root (it creates network namespaces)")
	}
	for _, f := range []string{frrDir + "/zebra", frrDir + "/bgpd"} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("spinel lab needs FRR: %s is missing; install Debian's frr (apt-get install frr)", f)
		}
	}
	for _, tool := range []string{"ip", "vtysh", "busybox", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("spinel lab needs %s (Debian packages iproute2, frr, busybox, iputils-ping)", tool)
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newPrefix picks a short prefix no existing namespace starts with.
func newPrefix() (string, error) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return "", fmt.Errorf("ip netns list: %w", err)
	}
	for range 20 {
		p := "sl" + randomHex(2)
		if !strings.Contains(string(out), p+"-") {
			return p, nil
		}
	}
	return "", errors.New("lab: no free prefix")
}

// run runs a command and returns its combined output, with the output in
// the error.
func run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// ipn runs `ip -n ns args...`.
func ipn(ctx context.Context, ns string, args ...string) error {
	_, err := run(ctx, "ip", append([]string{"-n", ns}, args...)...)
	return err
}

// inNS runs a command inside ns.
func inNS(ctx context.Context, ns string, args ...string) (string, error) {
	return run(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

func sysctl(ctx context.Context, ns string, kv ...string) error {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "echo %s > /proc/sys/%s; ", kv[i+1], strings.ReplaceAll(kv[i], ".", "/"))
	}
	_, err := inNS(ctx, ns, "sh", "-ec", b.String())
	return err
}

func waitFor(ctx context.Context, d time.Duration, what string, f func() bool) error {
	deadline := time.Now().Add(d)
	for {
		if f() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: timed out after %v waiting for %s", d, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
