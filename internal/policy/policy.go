// Package policy is spinel's authorization engine: Neutron's policy rules
// (oslo.policy's rule language, the subset described in parse.go) with
// Neutron's secure-RBAC defaults for the admin, member and reader roles,
// which an operator's YAML file may override rule by rule.
//
// Rules are compiled once; Enforce walks the compiled tree without
// allocating. The engine knows nothing about resources: the caller hands
// it the action ("create_network", "get_port:binding:host_id"), a Target
// that answers attribute lookups, and the caller's Creds.
package policy

import (
	"slices"
	"sort"
	"strings"
)

// Target is the object of an action as the rules see it. Get returns the
// value of attribute key (for example "project_id", "shared",
// "network:tenant_id") spelled as Python would print it (booleans "True"
// and "False", null "None", numbers in decimal), and false when the
// target has no such attribute; a check on a missing attribute fails.
type Target interface {
	Get(key string) (string, bool)
}

// Subject is the authenticated caller, as an authenticator describes it.
type Subject struct {
	ProjectID       string
	UserID          string
	ProjectName     string
	ProjectDomainID string
	UserName        string
	UserDomainID    string
	Roles           []string
}

// Creds are a caller's credentials as rules see them. Create them with
// Engine.Creds; they are read-only afterwards and safe to share.
type Creds struct {
	Subject
	roles   []string // lower case, implied roles included
	isAdmin bool
}

// impliedRoles are Keystone's default role implications: a token for a
// role carries the roles it implies, so an admin is also a member and a
// reader, and a member a reader.
var impliedRoles = map[string][]string{
	"admin":  {"member", "reader"},
	"member": {"reader"},
}

// HasRole reports whether the caller holds role (case-insensitive),
// directly or by implication.
func (c *Creds) HasRole(role string) bool {
	for _, r := range c.roles {
		if strings.EqualFold(r, role) {
			return true
		}
	}
	return false
}

// IsAdmin reports whether the caller passes the context_is_admin rule:
// Neutron's notion of an admin context, which sees every project.
func (c *Creds) IsAdmin() bool { return c.isAdmin }

// Roles returns the caller's roles in lower case, implied ones included.
func (c *Creds) Roles() []string { return slices.Clone(c.roles) }

// credKey names a credential usable on the left of KEY:MATCH.
type credKey uint8

const (
	credProject credKey = iota
	credUser
	credProjectName
	credProjectDomain
	credUserName
	credUserDomain
	credIsAdmin
	credRoles
)

var credKeys = map[string]credKey{
	"project_id":        credProject,
	"tenant_id":         credProject,
	"user_id":           credUser,
	"project_name":      credProjectName,
	"project_domain_id": credProjectDomain,
	"user_name":         credUserName,
	"user_domain_id":    credUserDomain,
	"is_admin":          credIsAdmin,
	"roles":             credRoles,
}

func credNames() []string {
	out := make([]string, 0, len(credKeys))
	for k := range credKeys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// rule is one named, compiled rule.
type rule struct {
	name   string
	text   string
	source string // "default" or "FILE:LINE"
	root   *node
}

// Engine holds a compiled rule set. It is immutable and safe for
// concurrent use.
type Engine struct {
	rules map[string]*rule
	dflt  *rule // "default": actions without a rule of their own
	admin *rule // "context_is_admin"
}

// Creds returns the credentials of s, with Keystone's implied roles added
// and admin-ness decided by this engine's context_is_admin rule.
func (e *Engine) Creds(s Subject) *Creds {
	c := &Creds{Subject: s}
	c.Subject.Roles = nil
	add := func(r string) {
		r = strings.ToLower(r)
		if !slices.Contains(c.roles, r) {
			c.roles = append(c.roles, r)
		}
	}
	for _, r := range s.Roles {
		add(r)
		for _, im := range impliedRoles[strings.ToLower(r)] {
			add(im)
		}
	}
	c.Subject.Roles = c.roles
	if e.admin != nil {
		c.isAdmin = eval(e.admin.root, nil, c)
	}
	return c
}

// Enforce reports whether c may perform action on t (t may be nil). An
// action without a rule of its own is judged by the "default" rule, as
// oslo.policy does.
func (e *Engine) Enforce(action string, t Target, c *Creds) bool {
	r := e.rules[action]
	if r == nil {
		r = e.dflt
		if r == nil {
			return false
		}
	}
	return eval(r.root, t, c)
}

// Has reports whether the engine has a rule named name. Attribute rules
// ("create_network:shared") apply only where they exist.
func (e *Engine) Has(name string) bool {
	_, ok := e.rules[name]
	return ok
}

// Rule returns the text of the named rule and where it came from
// ("default" or "FILE:LINE").
func (e *Engine) Rule(name string) (text, source string, ok bool) {
	r, ok := e.rules[name]
	if !ok {
		return "", "", false
	}
	return r.text, r.source, true
}

// Names returns every rule name, sorted.
func (e *Engine) Names() []string {
	out := make([]string, 0, len(e.rules))
	for n := range e.rules {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func eval(n *node, t Target, c *Creds) bool {
	switch n.op {
	case opTrue:
		return true
	case opFalse:
		return false
	case opAnd:
		for _, k := range n.kids {
			if !eval(k, t, c) {
				return false
			}
		}
		return true
	case opOr:
		for _, k := range n.kids {
			if eval(k, t, c) {
				return true
			}
		}
		return false
	case opNot:
		return !eval(n.kids[0], t, c)
	case opRule:
		return eval(n.ref.root, t, c)
	case opRole:
		if lit, ok := n.match.literal(); ok {
			return slices.Contains(c.roles, lit)
		}
		s, ok := render(n.match, t)
		return ok && c.HasRole(s)
	case opCred:
		switch n.cred {
		case credRoles:
			for _, r := range c.roles {
				if matches(n.match, t, r) {
					return true
				}
			}
			return false
		case credIsAdmin:
			if c.isAdmin {
				return matches(n.match, t, "True")
			}
			return matches(n.match, t, "False")
		}
		return matches(n.match, t, c.cred(n.cred))
	case opConst:
		return matches(n.match, t, n.value)
	case opField:
		v, ok := get(t, n.name)
		return ok && v == n.value
	case opFieldRE:
		v, ok := get(t, n.name)
		return ok && n.re.MatchString(v)
	}
	return false
}

func (c *Creds) cred(k credKey) string {
	switch k {
	case credProject:
		return c.ProjectID
	case credUser:
		return c.UserID
	case credProjectName:
		return c.ProjectName
	case credProjectDomain:
		return c.ProjectDomainID
	case credUserName:
		return c.UserName
	case credUserDomain:
		return c.UserDomainID
	}
	return ""
}

func get(t Target, key string) (string, bool) {
	if t == nil {
		return "", false
	}
	return t.Get(key)
}

// matches reports whether the template, rendered against t, equals want.
// The common forms (a lone placeholder, a literal) do not allocate.
func matches(m template, t Target, want string) bool {
	if key, ok := m.single(); ok {
		v, ok := get(t, key)
		return ok && v == want
	}
	if lit, ok := m.literal(); ok {
		return lit == want
	}
	s, ok := render(m, t)
	return ok && s == want
}

// render substitutes the target's attributes into m; false if one is missing.
func render(m template, t Target) (string, bool) {
	var b strings.Builder
	for _, p := range m.parts {
		if p.key == "" {
			b.WriteString(p.lit)
			continue
		}
		v, ok := get(t, p.key)
		if !ok {
			return "", false
		}
		b.WriteString(v)
	}
	return b.String(), true
}
