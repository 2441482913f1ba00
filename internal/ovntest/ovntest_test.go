package ovntest

import (
	"strings"
	"testing"
)

func TestHarness(t *testing.T) {
	o := Start(t)
	o.NBCtl(t, "ls-add", "sw0")
	o.NBCtl(t, "lsp-add", "sw0", "p1", "--", "lsp-set-addresses", "p1", "00:00:00:00:00:01 10.0.0.1")
	o.NBCtl(t, "lsp-add", "sw0", "p2", "--", "lsp-set-addresses", "p2", "00:00:00:00:00:02 10.0.0.2")
	o.Sync(t)
	if out := o.SBCtl(t, "--bare", "--columns=external_ids", "list", "Datapath_Binding"); !strings.Contains(out, "sw0") {
		t.Fatalf("northd did not create the datapath: %q\n%s", out, o.Logs())
	}
	out := o.Trace(t, "sw0", `inport == "p1" && eth.src == 00:00:00:00:00:01 && eth.dst == 00:00:00:00:00:02`)
	if !strings.Contains(out, `output("p2")`) {
		t.Fatalf("trace: p1 → p2 not delivered:\n%s", out)
	}

	o.NB.Restart(t)
	if out := o.NBCtl(t, "ls-list"); !strings.Contains(out, "sw0") {
		t.Fatalf("restart lost sw0: %q", out)
	}
	o.NB.Wipe(t)
	if out := o.NBCtl(t, "ls-list"); out != "" {
		t.Fatalf("wipe kept %q", out)
	}
}
