package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mapTarget is a Target backed by a map.
type mapTarget map[string]string

func (m mapTarget) Get(k string) (string, bool) {
	v, ok := m[k]
	return v, ok
}

// engineWith compiles the defaults overridden by rules (YAML).
func engineWith(t *testing.T, yaml string) *Engine {
	t.Helper()
	e, err := Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return e
}

// TestSyntax: every element of the rule language, evaluated.
func TestSyntax(t *testing.T) {
	e := engineWith(t, `
always: "@"
never: "!"
empty: ""
role_admin: role:admin
role_case: role:ADMIN
role_tpl: role:%(wanted_role)s
ref: rule:role_admin
project: project_id:%(project_id)s
tenant: tenant_id:%(tenant_id)s
user: user_id:%(user_id)s
cred_const_quoted: project_id:'p1'
cred_const_bare: project_id:p1
is_admin_true: is_admin:True
roles_generic: roles:%(r)s
const_kind: "'p1':%(project_id)s"
const_true: True:%(enabled)s
const_num: 42:%(count)s
tpl_mixed: user_id:u-%(suffix)s
escaped: "'100%':%(pct)s%%"
field_bool: field:networks:shared=True
field_bool_lower: field:networks:shared=true
field_colon: field:networks:router:external=True
field_str: field:rbac_policy:target_tenant=*
field_re: "field:port:device_owner=~^network:"
field_re_anchor: field:port:device_owner=~dhcp
and2: role:member and project_id:%(project_id)s
or2: role:admin or project_id:%(project_id)s
not1: not role:admin
prec_and_or: role:a or role:b and role:c
prec_not_and: not role:a and role:b
parens: (role:a or role:b) and role:c
nested: ((role:a)) or (not (role:b or role:c))
upper_ops: role:a OR role:b AND NOT role:c
`)
	admin := e.Creds(Subject{ProjectID: "p0", UserID: "u0", Roles: []string{"admin"}})
	member := e.Creds(Subject{ProjectID: "p1", UserID: "u1", Roles: []string{"Member"}})
	reader := e.Creds(Subject{ProjectID: "p1", UserID: "u1", Roles: []string{"reader"}})
	abc := func(roles ...string) *Creds { return e.Creds(Subject{ProjectID: "p9", Roles: roles}) }
	own := mapTarget{"project_id": "p1", "tenant_id": "p1", "user_id": "u1"}
	other := mapTarget{"project_id": "p2", "tenant_id": "p2"}

	cases := []struct {
		rule string
		t    Target
		c    *Creds
		want bool
	}{
		{"always", nil, reader, true},
		{"never", nil, admin, false},
		{"empty", nil, reader, true},
		{"regular_user", nil, reader, true},
		{"role_admin", nil, admin, true},
		{"role_admin", nil, member, false},
		{"role_case", nil, admin, true},
		{"role_tpl", mapTarget{"wanted_role": "Member"}, member, true},
		{"role_tpl", mapTarget{"wanted_role": "admin"}, member, false},
		{"role_tpl", nil, member, false},
		{"ref", nil, admin, true},
		{"ref", nil, member, false},
		{"project", own, member, true},
		{"project", other, member, false},
		{"project", nil, member, false},
		{"tenant", own, member, true},
		{"tenant", other, member, false},
		{"user", own, member, true},
		{"user", own, admin, false},
		{"cred_const_quoted", nil, member, true},
		{"cred_const_quoted", nil, admin, false},
		{"cred_const_bare", nil, member, true},
		{"is_admin_true", nil, admin, true},
		{"is_admin_true", nil, member, false},
		{"roles_generic", mapTarget{"r": "reader"}, member, true}, // implied by member
		{"roles_generic", mapTarget{"r": "admin"}, member, false},
		{"const_kind", own, reader, true},
		{"const_kind", other, reader, false},
		{"const_true", mapTarget{"enabled": "True"}, reader, true},
		{"const_true", mapTarget{"enabled": "False"}, reader, false},
		{"const_num", mapTarget{"count": "42"}, reader, true},
		{"tpl_mixed", mapTarget{"suffix": "1"}, member, false},
		{"tpl_mixed", mapTarget{"suffix": "1"}, e.Creds(Subject{UserID: "u-1"}), true},
		{"escaped", mapTarget{"pct": "100"}, reader, true},
		{"escaped", mapTarget{"pct": "10"}, reader, false},
		{"field_bool", mapTarget{"shared": "True"}, reader, true},
		{"field_bool", mapTarget{"shared": "False"}, reader, false},
		{"field_bool", nil, reader, false},
		{"field_bool_lower", mapTarget{"shared": "True"}, reader, true},
		{"field_colon", mapTarget{"router:external": "True"}, reader, true},
		{"field_colon", mapTarget{"external": "True"}, reader, false},
		{"field_str", mapTarget{"target_tenant": "*"}, reader, true},
		{"field_str", mapTarget{"target_tenant": "p1"}, reader, false},
		{"field_re", mapTarget{"device_owner": "network:dhcp"}, reader, true},
		{"field_re", mapTarget{"device_owner": "compute:nova"}, reader, false},
		{"field_re_anchor", mapTarget{"device_owner": "network:dhcp"}, reader, false},
		{"field_re_anchor", mapTarget{"device_owner": "dhcp"}, reader, true},
		{"and2", own, member, true},
		{"and2", own, reader, false},
		{"and2", other, member, false},
		{"or2", other, admin, true},
		{"or2", own, reader, true},
		{"or2", other, reader, false},
		{"not1", nil, admin, false},
		{"not1", nil, reader, true},
		{"prec_and_or", nil, abc("a"), true},
		{"prec_and_or", nil, abc("b"), false},
		{"prec_and_or", nil, abc("b", "c"), true},
		{"prec_not_and", nil, abc("b"), true},
		{"prec_not_and", nil, abc("a", "b"), false},
		{"prec_not_and", nil, abc(), false},
		{"parens", nil, abc("a"), false},
		{"parens", nil, abc("b", "c"), true},
		{"nested", nil, abc("a"), true},
		{"nested", nil, abc("b"), false},
		{"nested", nil, abc(), true},
		{"upper_ops", nil, abc("b"), true},
		{"upper_ops", nil, abc("b", "c"), false},
		{"upper_ops", nil, abc("a", "c"), true},
	}
	for _, c := range cases {
		if got := e.Enforce(c.rule, c.t, c.c); got != c.want {
			t.Errorf("%s (%v, roles %v): got %v, want %v", c.rule, c.t, c.c.Roles(), got, c.want)
		}
	}
}

// TestCreds: implied roles, admin-ness from context_is_admin.
func TestCreds(t *testing.T) {
	e := Default()
	c := e.Creds(Subject{ProjectID: "p", Roles: []string{"Admin"}})
	for _, r := range []string{"admin", "member", "reader", "ADMIN"} {
		if !c.HasRole(r) {
			t.Errorf("admin lacks %s: %v", r, c.Roles())
		}
	}
	if !c.IsAdmin() {
		t.Error("admin is not admin")
	}
	m := e.Creds(Subject{ProjectID: "p", Roles: []string{"member"}})
	if m.HasRole("admin") || !m.HasRole("reader") || m.IsAdmin() {
		t.Errorf("member: roles %v admin %v", m.Roles(), m.IsAdmin())
	}
	r := e.Creds(Subject{ProjectID: "p", Roles: []string{"reader"}})
	if r.HasRole("member") {
		t.Errorf("reader has member: %v", r.Roles())
	}
	// Admin-ness follows the rule set.
	e2 := engineWith(t, `context_is_admin: role:superuser`)
	if e2.Creds(Subject{Roles: []string{"admin"}}).IsAdmin() {
		t.Error("admin role still admin after context_is_admin override")
	}
	if !e2.Creds(Subject{Roles: []string{"superuser"}}).IsAdmin() {
		t.Error("superuser is not admin")
	}
}

// TestDefaultSemantics: a few of Neutron's defaults, end to end.
func TestDefaultSemantics(t *testing.T) {
	e := Default()
	admin := e.Creds(Subject{ProjectID: "admin", Roles: []string{"admin"}})
	member := e.Creds(Subject{ProjectID: "p1", Roles: []string{"member"}})
	reader := e.Creds(Subject{ProjectID: "p1", Roles: []string{"reader"}})
	stranger := e.Creds(Subject{ProjectID: "p2", Roles: []string{"member"}})
	net := mapTarget{"project_id": "p1", "tenant_id": "p1", "shared": "False", "router:external": "False"}
	sharedNet := mapTarget{"project_id": "p1", "tenant_id": "p1", "shared": "True", "router:external": "False"}
	port := mapTarget{"project_id": "p2", "tenant_id": "p2", "network:tenant_id": "p1", "device_owner": "network:dhcp"}
	for _, c := range []struct {
		action string
		t      Target
		c      *Creds
		want   bool
	}{
		{"create_network", net, member, true},
		{"create_network", net, reader, false},
		{"create_network", net, stranger, false},
		{"create_network", net, admin, true},
		{"create_network:shared", net, member, false},
		{"create_network:shared", net, admin, true},
		{"get_network", net, reader, true},
		{"get_network", net, stranger, false},
		{"get_network", sharedNet, stranger, true},
		{"update_network", sharedNet, stranger, false},
		{"get_network:provider:network_type", net, member, false},
		{"get_port", port, member, true}, // network owner reads
		{"get_port", port, e.Creds(Subject{ProjectID: "p3", Roles: []string{"member"}}), false},
		{"create_port:device_owner", port, stranger, false}, // network: device on another's network
		{"create_port:device_owner", port, member, true},
		{"create_port:device_owner", mapTarget{"device_owner": "compute:nova"}, stranger, true},
		{"create_rbac_policy:target_tenant", mapTarget{"target_tenant": "*"}, member, false},
		{"create_rbac_policy:target_tenant", mapTarget{"target_tenant": "p2"}, member, true},
		{"create_rbac_policy:target_tenant", mapTarget{"target_tenant": "*"}, admin, true},
		{"get_quota", nil, member, false},
		{"get_flavor", nil, reader, true},
		{"no_such_action", mapTarget{"tenant_id": "p1"}, member, true}, // "default": admin_or_owner
		{"no_such_action", mapTarget{"tenant_id": "p2"}, member, false},
	} {
		if got := e.Enforce(c.action, c.t, c.c); got != c.want {
			t.Errorf("%s (%v) by %s/%v: got %v, want %v", c.action, c.t, c.c.ProjectID, c.c.Roles(), got, c.want)
		}
	}
	if !e.Has("create_network:shared") || e.Has("create_network:mtu") {
		t.Error("Has")
	}
	if text, src, ok := e.Rule("get_quota"); !ok || text != "rule:admin_only" || src != "default" {
		t.Errorf("Rule: %q %q %v", text, src, ok)
	}
}

// TestOverride: a file replaces rules one by one and may add new ones
// that others refer to.
func TestOverride(t *testing.T) {
	e := engineWith(t, `
# members may share their networks
"create_network:shared": "rule:admin_only or rule:net_creator"
net_creator: role:member and project_id:%(project_id)s
create_router: "!"
`)
	member := e.Creds(Subject{ProjectID: "p1", Roles: []string{"member"}})
	if !e.Enforce("create_network:shared", mapTarget{"project_id": "p1"}, member) {
		t.Error("override not in force")
	}
	if e.Enforce("create_router", mapTarget{"project_id": "p1"}, e.Creds(Subject{Roles: []string{"admin"}})) {
		t.Error("create_router still allowed")
	}
	if !e.Enforce("create_network", mapTarget{"project_id": "p1"}, member) {
		t.Error("untouched default lost")
	}
	if _, src, _ := e.Rule("create_router"); src != "test.yaml:5" {
		t.Errorf("source %q", src)
	}
	// JSON works too (YAML's superset), and an empty file is the defaults.
	if _, err := Parse([]byte(`{"create_router": "role:admin"}`), "p.json"); err != nil {
		t.Error(err)
	}
	if _, err := Parse(nil, "empty.yaml"); err != nil {
		t.Error(err)
	}
}

// TestBadFiles: every kind of mistake is reported, all at once, with the
// rule and line.
func TestBadFiles(t *testing.T) {
	for _, c := range []struct {
		name, file string
		want       []string
	}{
		{"yaml", "a: [unclosed", []string{"not valid YAML"}},
		{"not a mapping", "- a\n- b\n", []string{"must be a mapping"}},
		{"non-string", "create_network: 5\nget_network: true\nupdate_network:\n", []string{
			`test.yaml:1: rule "create_network": the rule must be a string`,
			`test.yaml:2: rule "get_network"`, `test.yaml:3: rule "update_network"`}},
		{"duplicate", "a: role:x\na: role:y\n", []string{`test.yaml:2: rule "a": defined twice (first at test.yaml:1)`}},
		{"unknown rule", "a: rule:nope or rule:also_nope\n", []string{`rule "a": refers to undefined rule "also_nope"`, `refers to undefined rule "nope"`}},
		{"cycle", "a: rule:b\nb: rule:c\nc: rule:a\nself: rule:self or role:x\n", []string{`refers to itself: a -> b -> c -> a`, `refers to itself: self -> self`}},
		{"syntax", strings.Join([]string{
			`a: "role:x and"`,
			`b: "(role:x"`,
			`c: "role:x)"`,
			`d: "role:x role:y"`,
			`e: "noколон"`,
			`f: "'quoted'"`,
			`g: "or role:x"`,
			`h: "not"`,
			`i: "role:"`,
			`j: "rule:"`,
			`k: "field:networks"`,
			`l: "field:networks:shared"`,
			`m: "field:port:device_owner=~(unclosed"`,
			`n: "project_id:%(project_id"`,
			`o: "project_id:%d"`,
			`p: "unknown_cred:%(x)s"`,
			`q: "tenant_id:literal"`,
			`r: "http://example.com/check"`,
			`s: "project_id:%()s"`,
			`t: ":x"`,
		}, "\n"), []string{
			`test.yaml:1: rule "a": unexpected end of rule`,
			`test.yaml:2: rule "b": missing ")"`,
			`test.yaml:3: rule "c": unexpected ")"`,
			`test.yaml:4: rule "d": unexpected "role:y"`,
			`test.yaml:5: rule "e": `,
			`test.yaml:6: rule "f": 'quoted': a quoted string is not a check`,
			`test.yaml:7: rule "g": unexpected "or"`,
			`test.yaml:8: rule "h": unexpected end of rule`,
			`test.yaml:9: rule "i": "role:": empty role`,
			`test.yaml:10: rule "j": "rule:": empty rule name`,
			`test.yaml:11: rule "k": "field:networks": a field check is`,
			`test.yaml:12: rule "l": "field:networks:shared": a field check is`,
			`test.yaml:13: rule "m": "field:port:device_owner=~(unclosed": bad regular expression`,
			`test.yaml:14: rule "n": "%(project_id": unterminated placeholder`,
			`test.yaml:15: rule "o": "%d": a % must start`,
			`test.yaml:16: rule "p": "unknown_cred:%(x)s": unknown credential "unknown_cred"`,
			`test.yaml:17: rule "q": "tenant_id:literal": tenant_id checks must have the form`,
			`test.yaml:18: rule "r": "http://example.com/check": external (HTTP) checks are not supported`,
			`test.yaml:19: rule "s": "%()s": empty placeholder`,
			`test.yaml:20: rule "t": ":x": empty check kind`,
		}},
		{"mixed", "a: 1\nb: rule:a\nc: rule:missing\nd: \"(\"\ne: rule:d\n", []string{
			`test.yaml:1: rule "a": the rule must be a string`,
			`test.yaml:3: rule "c": refers to undefined rule "missing"`,
			`test.yaml:4: rule "d": unexpected end of rule`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.file), "test.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			var pe *Error
			if errors.As(err, &pe) && c.name == "mixed" {
				// b and e refer to broken rules: no second report for them.
				if len(pe.Problems) != 3 {
					t.Errorf("%d problems, want 3:\n%s", len(pe.Problems), msg)
				}
			}
		})
	}
}

// TestLoad reads a file from disk; a missing file is an error, no path
// is the defaults.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(p, []byte("create_router: role:admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if text, _, _ := e.Rule("create_router"); text != "role:admin" {
		t.Errorf("create_router %q", text)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file loaded")
	}
	if e, err := Load(""); err != nil || !e.Has("create_network") {
		t.Errorf("no path: %v", err)
	}
}

// TestEnforceDoesNotAllocate: the hot path allocates nothing.
func TestEnforceDoesNotAllocate(t *testing.T) {
	e := Default()
	c := e.Creds(Subject{ProjectID: "p2", Roles: []string{"member"}})
	tgt := &netTarget{project: "p1", shared: true}
	allocs := testing.AllocsPerRun(1000, func() {
		if !e.Enforce("get_network", tgt, c) || e.Enforce("update_network", tgt, c) {
			t.Fatal("wrong answer")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Enforce", allocs)
	}
}

// netTarget is a typical hand-written target.
type netTarget struct {
	project  string
	shared   bool
	external bool
}

func (n *netTarget) Get(k string) (string, bool) {
	switch k {
	case "project_id", "tenant_id":
		return n.project, true
	case "shared":
		return pyBool(n.shared), true
	case "router:external":
		return pyBool(n.external), true
	}
	return "", false
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
