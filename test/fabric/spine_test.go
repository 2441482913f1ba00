package fabric

// The lab's internet namespace is the fabric's spine (FRR, AS 65100, a
// session to each ToR; see internal/lab): it learns every VM and floating
// /32 from both ToRs, so a ToR that loses a hypervisor link reroutes
// through it instead of looping. waitSpine waits until it has.

import (
	"fmt"
	"os/exec"
	"time"
)

func (e *env) waitSpine() error {
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
			return nil
		}
		if time.Now().After(deadline) {
			out, _ := exec.Command("ip", "-n", e.s.Internet, "route").CombinedOutput()
			return fmt.Errorf("the spine did not learn the VM routes over both ToRs:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
