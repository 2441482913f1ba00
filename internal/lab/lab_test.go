package lab

// Privileged end-to-end test of the lab: it builds the spinel binary, brings
// a lab up (2 hypervisors, 1 VM each), checks Status, brings it down and
// checks nothing of it is left. Needs root and Debian's frr.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLabUpStatusDown(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test needs (CI runs as root and installs it): root")
	}
	if err := checkHost(); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "spinel")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/spinel-net/spinel/cmd/spinel").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	base, err := os.MkdirTemp("", "spinel-lab-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	os.Chmod(base, 0o755) // FRR runs as user frr
	dir := filepath.Join(base, "lab")
	var out bytes.Buffer
	// SPINEL_LAB_HVS / SPINEL_LAB_VMS change the shape (default 2 x 1).
	hvs, vms := envInt("SPINEL_LAB_HVS", 2), envInt("SPINEL_LAB_VMS", 1)
	// The numbered fabric here; test/fabric runs the default, unnumbered one.
	o := Options{Dir: dir, Hypervisors: hvs, VMsPerHypervisor: vms, Binary: bin, Out: &out, Uplinks: "numbered"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	downDone := false
	t.Cleanup(func() {
		if !downDone {
			Down(context.Background(), o)
		}
	})
	t0 := time.Now()
	upErr := Up(ctx, o)
	t.Logf("Up (%v):\n%s", time.Since(t0).Round(time.Millisecond), out.String())
	if upErr != nil {
		dumpLogs(t, dir)
		t.Fatalf("Up: %v", upErr)
	}
	s, err := LoadState(o)
	if err != nil {
		t.Fatal(err)
	}
	prefix := s.Prefix
	if len(s.VMs) != hvs*vms || s.VMs[0].FloatingIP == "" || s.VMs[0].IP == "" || s.VMs[1].IP == "" {
		t.Errorf("VMs in state: %+v", s.VMs)
	}

	// The ToRs' sessions: with BGP in the agent they reach Established.
	// Established shows as a prefix count in `show bgp summary`; otherwise
	// the state (Active, Connect, ...) is printed.
	var st bytes.Buffer
	established := func() bool {
		st.Reset()
		if err := Status(ctx, o, &st); err != nil {
			t.Fatalf("Status: %v", err)
		}
		return strings.Count(st.String(), fmt.Sprintf("Total number of neighbors %d", hvs+1)) == 2 && !anyNotEstablished(st.String())
	}
	if s.BGP {
		if err := waitFor(ctx, 40*time.Second, "all BGP sessions established", established); err != nil {
			t.Errorf("%v\n%s", err, st.String())
		}
	} else {
		established()
		t.Logf("agent BGP not available (%s): not waiting for sessions", s.BGPNote)
	}
	txt := st.String()
	t.Logf("Status:\n%s", txt)
	for _, tor := range s.Tors {
		if !strings.Contains(txt, "== "+tor.Name+" (") {
			t.Errorf("status lacks %s", tor.Name)
		}
		for n := range s.Hypervisors {
			_, ha := torHVAddr(1, n+1)
			_, hb := torHVAddr(2, n+1)
			if !strings.Contains(txt, ha) || !strings.Contains(txt, hb) {
				t.Errorf("status lacks the session to hv%d (%s / %s)", n+1, ha, hb)
			}
		}
	}
	if s.BGP && (!strings.Contains(txt, "== hypervisors' BGP sessions") || strings.Count(txt, "established") < 2*hvs) {
		t.Errorf("status lacks the hypervisors' established sessions")
	}
	// Each ToR peers with every hypervisor and with the spine (the internet).
	if strings.Count(txt, fmt.Sprintf("Total number of neighbors %d", hvs+1)) != 2 {
		t.Errorf("want both ToRs with %d neighbours each in the BGP summaries", hvs+1)
	}

	// Reachability. What works without BGP in the agent: every VM reaches
	// its gateway (the hypervisor). Across hypervisors, to the internet and
	// from the internet to the floating IP needs BGP (and the floating IP
	// also NAT in the agent).
	var probes []Probe
	// Once the agent realises floating IPs (status ACTIVE), the internet
	// must reach them.
	fipActive := false
	if code, m, err := newClient(s.Ctl).do(ctx, "GET", "/v2.0/floatingips", nil); err == nil && code == 200 {
		for _, f := range m["floatingips"].([]any) {
			fipActive = fipActive || f.(map[string]any)["status"] == "ACTIVE"
		}
	}
	t.Logf("floating IP ACTIVE: %v", fipActive)
	mustOK := func(p Probe) bool {
		if strings.HasSuffix(p.To, " v6") {
			return s.BGP && s.Unnumbered // IPv6 crosses only an unnumbered fabric
		}
		return p.To == "gateway" || s.BGP && (p.From != "internet" || fipActive)
	}
	waitFor(ctx, 20*time.Second, "reachability", func() bool {
		probes = Matrix(ctx, s)
		for _, p := range probes {
			if mustOK(p) && !p.OK {
				return false
			}
		}
		return true
	})
	for _, p := range probes {
		switch {
		case mustOK(p) && !p.OK:
			t.Errorf("%s -> %s (%s) FAIL", p.From, p.To, p.Target)
		case !p.OK:
			t.Logf("not yet expected to work: %s -> %s (%s) FAIL", p.From, p.To, p.Target)
		default:
			t.Logf("%s -> %s (%s) OK", p.From, p.To, p.Target)
		}
	}
	if t.Failed() {
		dumpLogs(t, dir)
	}

	// Down removes everything, and a second Down is a no-op.
	out.Reset()
	if err := Down(ctx, o); err != nil {
		t.Fatalf("Down: %v", err)
	}
	downDone = true
	if err := Down(ctx, o); err != nil {
		t.Fatalf("second Down: %v", err)
	}
	nss, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(nss), prefix+"-") {
		t.Errorf("namespaces of %s left:\n%s", prefix, nss)
	}
	if left := procsMentioning(dir); len(left) > 0 {
		t.Errorf("processes of the lab left: %v", left)
	}
	if _, err := os.Stat(dir); err == nil {
		ents, _ := os.ReadDir(dir)
		t.Errorf("%s left with %d entries", dir, len(ents))
	}
}

// anyNotEstablished reports whether a `show bgp summary` neighbour line shows
// a state instead of a prefix count.
func anyNotEstablished(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) > 9 && strings.HasPrefix(f[0], "10.255.") {
			switch f[9] {
			case "Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Idle(Admin)", "Idle(PfxCt)":
				return true
			}
		}
	}
	return false
}

// procsMentioning lists live processes whose command line contains s.
func procsMentioning(s string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cl), s) {
			out = append(out, fmt.Sprintf("%s: %s", e.Name(), strings.ReplaceAll(string(cl), "\x00", " ")))
		}
	}
	return out
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

func dumpLogs(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	more, _ := filepath.Glob(filepath.Join(dir, "tor*", "*.log"))
	for _, f := range append(files, more...) {
		b, _ := os.ReadFile(f)
		t.Logf("%s (tail):\n%s", f, lastLines(string(b), 25))
	}
}
