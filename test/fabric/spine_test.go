package fabric

// The lab's internet namespace routes 10.0.0.0/8 and 198.51.100.0/24 with
// static ECMP routes via both ToRs. When a ToR loses its link to a
// hypervisor it falls back to its default route (the internet), whose
// static ECMP hashes some flows straight back to that ToR: those flows loop
// until the link comes back, so no failover can be measured. A real
// upstream (spine) learns the ToRs' routes by BGP. Until internal/lab does
// that itself, the tests turn the internet into a BGP spine: FRR zebra and
// bgpd in the internet namespace (AS 65100, multipath-relax, timers 3/9),
// a session from each ToR added through vtysh, and the static routes
// removed once the spine has learned the VM routes. SPINEL_FABRIC_STATIC_INET=1
// keeps the lab as it is.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const spineASN = 65100

func (e *env) startSpine() error {
	dir := filepath.Join(e.base, "spine")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	os.Chmod(dir, 0o777)
	var nb strings.Builder
	for t, tor := range e.s.Tors {
		torAddr := fmt.Sprintf("10.255.0.%d", 2*t+1)
		fmt.Fprintf(&nb, " neighbor %s remote-as %d\n neighbor %s timers connect 2\n neighbor %s advertisement-interval 0\n", torAddr, tor.ASN, torAddr, torAddr)
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
		pid := filepath.Join(dir, d+".pid")
		e.spinePids = append(e.spinePids, pid)
		args := append([]string{"netns", "exec", e.s.Internet, "/usr/lib/frr/" + d, "-f", filepath.Join(dir, d+".conf"), "-i", pid}, common...)
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("spine %s: %v: %s", d, err, out)
		}
		sock := filepath.Join(dir, d+".vty")
		if d == "zebra" {
			sock = filepath.Join(dir, "zserv.api")
		}
		for i := 0; ; i++ {
			if _, err := os.Stat(sock); err == nil {
				break
			}
			if i > 200 {
				return fmt.Errorf("spine %s did not start", d)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for t, tor := range e.s.Tors {
		inetAddr := fmt.Sprintf("10.255.0.%d", 2*t)
		out, err := exec.Command("vtysh", "--vty_socket", tor.Dir, "-c", "configure terminal", "-c", fmt.Sprintf("router bgp %d", tor.ASN),
			"-c", fmt.Sprintf("neighbor %s remote-as %d", inetAddr, spineASN), "-c", fmt.Sprintf("neighbor %s timers connect 2", inetAddr),
			"-c", fmt.Sprintf("neighbor %s advertisement-interval 0", inetAddr)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: adding the spine session: %v: %s", tor.Name, err, out)
		}
	}
	// Wait for the spine to learn every VM /32 over both ToRs, then drop
	// the static routes.
	h, err := nsHandle(e.s.Internet)
	if err != nil {
		return err
	}
	defer h.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok := true
		for _, vm := range e.s.VMs {
			if gws, found := routeGws(h, vm.IP+"/32"); !found || len(gws) != 2 {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			out, _ := exec.Command("ip", "-n", e.s.Internet, "route").CombinedOutput()
			return fmt.Errorf("spine did not learn the VM routes over both ToRs:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, dst := range []string{"10.0.0.0/8", "198.51.100.0/24"} {
		if out, err := exec.Command("ip", "-n", e.s.Internet, "route", "del", dst).CombinedOutput(); err != nil {
			return fmt.Errorf("removing the static %s: %v: %s", dst, err, out)
		}
	}
	return nil
}

// stopSpine stops the spine's FRR daemons (lab.Down does not know them).
func (e *env) stopSpine() {
	for _, pf := range e.spinePids {
		b, err := os.ReadFile(pf)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			continue
		}
		cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if !strings.Contains(string(cl), filepath.Join(e.base, "spine")) {
			continue
		}
		syscall.Kill(pid, syscall.SIGTERM)
		for range 100 {
			if syscall.Kill(pid, 0) != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
