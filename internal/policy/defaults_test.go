package policy

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestDefaultsMatchNeutron: every built-in rule is Neutron's, as
// neutron/conf/policies/*.py at openstack/neutron 5b728c55 define it
// (testdata/neutron-5b728c55.txt was dumped from those files: "name =>
// rule" per line), except the deviations listed here, and no Neutron
// rule for a served resource is missing.
func TestDefaultsMatchNeutron(t *testing.T) {
	deviations := map[string]string{
		"create_subnet": "(rule:admin_only) or (role:member and rule:network_owner) or role:member and project_id:%(project_id)s",
	}
	f, err := os.Open("testdata/neutron-5b728c55.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ours := map[string]string{}
	for _, d := range Defaults() {
		if _, dup := ours[d[0]]; dup {
			t.Errorf("rule %q defined twice", d[0])
		}
		ours[d[0]] = d[1]
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, text, ok := strings.Cut(sc.Text(), " => ")
		if !ok {
			name, text = strings.TrimSuffix(sc.Text(), " =>"), ""
		}
		seen[name] = true
		want := text
		if d, ok := deviations[name]; ok {
			want = d
		}
		got, ok := ours[name]
		switch {
		case !ok:
			t.Errorf("Neutron rule %q missing", name)
		case got != want:
			t.Errorf("rule %q:\n got  %s\n want %s", name, got, want)
		}
	}
	for name := range ours {
		if !seen[name] {
			t.Errorf("rule %q is not one of Neutron's", name)
		}
	}
}
