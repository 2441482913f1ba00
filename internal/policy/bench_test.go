package policy

import "testing"

// BenchmarkEnforce measures get_network for a caller of another project
// on a shared network: Neutron's rule is "(admin) or (reader and
// project) or service or shared or external or advsvc", so every branch
// but "shared" is tried. Baselines, measured in the same run:
//
//	hardcoded   the equivalent Go boolean expression (what the service
//	            did before the engine): the floor
//	reparse     parsing the rule on every call (what compiling once saves)
//
// Report compiled/hardcoded and reparse/compiled.
func BenchmarkEnforce(b *testing.B) {
	e := Default()
	c := e.Creds(Subject{ProjectID: "p2", Roles: []string{"member"}})
	tgt := &netTarget{project: "p1", shared: true}
	b.Run("hardcoded", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ok := c.IsAdmin() || c.HasRole("reader") && c.ProjectID == tgt.project || c.HasRole("service") || tgt.shared || tgt.external || c.HasRole("advsvc")
			if !ok {
				b.Fatal("denied")
			}
		}
	})
	b.Run("compiled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !e.Enforce("get_network", tgt, c) {
				b.Fatal("denied")
			}
		}
	})
	b.Run("reparse", func(b *testing.B) {
		text, _, _ := e.Rule("get_network")
		b.ReportAllocs()
		for b.Loop() {
			root, _, err := parseRule(text)
			if err != nil {
				b.Fatal(err)
			}
			for _, k := range root.kids {
				resolve(k, e.rules, new([]string))
			}
			if !eval(root, tgt, c) {
				b.Fatal("denied")
			}
		}
	})
}

// BenchmarkEnforceDenied is the slowest common case: a member reading
// another project's private network tries every alternative and fails.
func BenchmarkEnforceDenied(b *testing.B) {
	e := Default()
	c := e.Creds(Subject{ProjectID: "p2", Roles: []string{"member"}})
	tgt := &netTarget{project: "p1"}
	b.ReportAllocs()
	for b.Loop() {
		if e.Enforce("get_network", tgt, c) {
			b.Fatal("allowed")
		}
	}
}
