package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// The rule language is the subset of oslo.policy's that Neutron's
// defaults and typical operator files use:
//
//	@                        always
//	!                        never
//	""  (empty rule)         always
//	rule:NAME                the named rule
//	role:NAME                the caller has role NAME (case-insensitive)
//	field:RES:ATTR=VALUE     the target's attribute ATTR equals VALUE
//	field:RES:ATTR=~REGEX    ... matches REGEX (anchored at the start)
//	KEY:%(ATTR)s             the caller's credential KEY equals the target's ATTR
//	KEY:'CONST' / KEY:True   the caller's credential KEY equals a constant
//	'CONST':%(ATTR)s         a constant equals the target's ATTR
//	not X, X and Y, X or Y, ( ... )
//
// "not" binds tighter than "and", which binds tighter than "or", as in
// oslo.policy. Unlike oslo.policy, which turns a rule it cannot parse into
// a silent "never", every mistake is an error at load time.

// op is a node's kind.
type op uint8

const (
	opTrue op = iota
	opFalse
	opAnd
	opOr
	opNot
	opRule    // rule:NAME
	opRole    // role:NAME
	opCred    // KEY:MATCH, KEY a credential
	opConst   // 'CONST':MATCH
	opField   // field:RES:ATTR=VALUE
	opFieldRE // field:RES:ATTR=~REGEX
)

// node is one element of a compiled rule.
type node struct {
	op    op
	kids  []*node  // opAnd, opOr, opNot
	name  string   // opRule: rule name; opRole: role (lower case); opField*: attribute
	ref   *rule    // opRule, resolved after parsing
	cred  credKey  // opCred
	match template // opRole, opCred, opConst
	value string   // opConst: the constant; opField: the value to compare with
	re    *regexp.Regexp
}

// template is the right-hand side of a check: literal text with %(attr)s
// placeholders substituted from the target, as Python's % operator does.
type template struct {
	parts []tpart
}

type tpart struct {
	lit string // literal text, when key is ""
	key string // target attribute
}

// single returns the attribute when the template is exactly "%(attr)s".
func (t template) single() (string, bool) {
	if len(t.parts) == 1 && t.parts[0].key != "" {
		return t.parts[0].key, true
	}
	return "", false
}

// literal returns the text when the template has no placeholder.
func (t template) literal() (string, bool) {
	switch len(t.parts) {
	case 0:
		return "", true
	case 1:
		if t.parts[0].key == "" {
			return t.parts[0].lit, true
		}
	}
	return "", false
}

// parseTemplate parses text with %(name)s placeholders and %% escapes.
func parseTemplate(s string) (template, error) {
	var t template
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, tpart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '(' {
			return template{}, fmt.Errorf("%q: a %% must start %%(name)s or be doubled", s)
		}
		end := strings.IndexByte(s[i:], ')')
		if end < 0 || i+end+1 >= len(s) || s[i+end+1] != 's' {
			return template{}, fmt.Errorf("%q: unterminated placeholder, want %%(name)s", s)
		}
		key := s[i+2 : i+end]
		if key == "" {
			return template{}, fmt.Errorf("%q: empty placeholder %%()s", s)
		}
		flush()
		t.parts = append(t.parts, tpart{key: key})
		i += end + 1
	}
	flush()
	return t, nil
}

// token is one lexical element of a rule.
type token struct {
	kind string // "(", ")", "and", "or", "not", "check", "string"
	text string
}

// tokenize splits a rule as oslo.policy does: on white space, with leading
// "(" and trailing ")" split off each word.
func tokenize(s string) []token {
	var out []token
	for _, w := range strings.Fields(s) {
		for strings.HasPrefix(w, "(") {
			out = append(out, token{kind: "(", text: "("})
			w = w[1:]
		}
		trail := 0
		for strings.HasSuffix(w, ")") {
			trail++
			w = w[:len(w)-1]
		}
		if w != "" {
			switch lw := strings.ToLower(w); lw {
			case "and", "or", "not":
				out = append(out, token{kind: lw, text: w})
			default:
				if len(w) >= 2 && (w[0] == '"' || w[0] == '\'') && w[len(w)-1] == w[0] && !strings.Contains(w, ":") {
					out = append(out, token{kind: "string", text: w})
				} else {
					out = append(out, token{kind: "check", text: w})
				}
			}
		}
		for range trail {
			out = append(out, token{kind: ")", text: ")"})
		}
	}
	return out
}

// parser is a recursive-descent parser over one rule's tokens.
type parser struct {
	toks []token
	pos  int
	refs []string // rule names referenced, for resolution
}

// parseRule compiles one rule's text. References to other rules are left
// unresolved (node.ref nil) and listed in refs.
func parseRule(text string) (*node, []string, error) {
	p := &parser{toks: tokenize(text)}
	if len(p.toks) == 0 {
		return &node{op: opTrue}, nil, nil
	}
	n, err := p.or()
	if err != nil {
		return nil, nil, err
	}
	if p.pos < len(p.toks) {
		return nil, nil, fmt.Errorf("unexpected %q after a complete expression", p.toks[p.pos].text)
	}
	return n, p.refs, nil
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos].kind
	}
	return ""
}

func (p *parser) or() (*node, error) {
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	kids := []*node{first}
	for p.peek() == "or" {
		p.pos++
		n, err := p.and()
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	if len(kids) == 1 {
		return first, nil
	}
	return &node{op: opOr, kids: kids}, nil
}

func (p *parser) and() (*node, error) {
	first, err := p.unary()
	if err != nil {
		return nil, err
	}
	kids := []*node{first}
	for p.peek() == "and" {
		p.pos++
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	if len(kids) == 1 {
		return first, nil
	}
	return &node{op: opAnd, kids: kids}, nil
}

func (p *parser) unary() (*node, error) {
	if p.pos >= len(p.toks) {
		return nil, fmt.Errorf("unexpected end of rule, want a check")
	}
	t := p.toks[p.pos]
	switch t.kind {
	case "not":
		p.pos++
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &node{op: opNot, kids: []*node{n}}, nil
	case "(":
		p.pos++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			if p.pos >= len(p.toks) {
				return nil, fmt.Errorf("missing \")\"")
			}
			return nil, fmt.Errorf("unexpected %q, want \")\"", p.toks[p.pos].text)
		}
		p.pos++
		return n, nil
	case "check":
		p.pos++
		n, err := p.check(t.text)
		if err != nil {
			return nil, err
		}
		return n, nil
	case "string":
		return nil, fmt.Errorf("%s: a quoted string is not a check", t.text)
	}
	return nil, fmt.Errorf("unexpected %q, want a check", t.text)
}

// check compiles one "kind:match" check.
func (p *parser) check(s string) (*node, error) {
	switch s {
	case "@":
		return &node{op: opTrue}, nil
	case "!":
		return &node{op: opFalse}, nil
	}
	kind, match, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("%q: a check is KIND:MATCH, @ or !", s)
	}
	switch kind {
	case "rule":
		if match == "" {
			return nil, fmt.Errorf("%q: empty rule name", s)
		}
		p.refs = append(p.refs, match)
		return &node{op: opRule, name: match}, nil
	case "role":
		t, err := parseTemplate(match)
		if err != nil {
			return nil, err
		}
		if lit, ok := t.literal(); ok {
			if lit == "" {
				return nil, fmt.Errorf("%q: empty role", s)
			}
			t = template{parts: []tpart{{lit: strings.ToLower(lit)}}}
		}
		return &node{op: opRole, match: t}, nil
	case "field":
		return fieldCheck(s, match)
	case "http", "https":
		return nil, fmt.Errorf("%q: external (HTTP) checks are not supported", s)
	case "":
		return nil, fmt.Errorf("%q: empty check kind", s)
	}
	t, err := parseTemplate(unquote(match))
	if err != nil {
		return nil, err
	}
	if c, ok := constant(kind); ok {
		return &node{op: opConst, value: c, match: t}, nil
	}
	ck, ok := credKeys[kind]
	if !ok {
		return nil, fmt.Errorf("%q: unknown credential %q (known: %s)", s, kind, strings.Join(credNames(), ", "))
	}
	if kind == "tenant_id" {
		// Neutron's OwnerCheck needs the form tenant_id:%(attr)s.
		if _, single := t.single(); !single {
			return nil, fmt.Errorf("%q: tenant_id checks must have the form tenant_id:%%(attribute)s", s)
		}
	}
	return &node{op: opCred, cred: ck, match: t}, nil
}

// fieldCheck compiles field:RESOURCE:ATTR=VALUE (ATTR may contain ":",
// as in router:external).
func fieldCheck(s, match string) (*node, error) {
	res, rest, ok := strings.Cut(match, ":")
	if !ok || res == "" {
		return nil, fmt.Errorf("%q: a field check is field:RESOURCE:ATTRIBUTE=VALUE", s)
	}
	attr, value, ok := strings.Cut(rest, "=")
	if !ok || attr == "" {
		return nil, fmt.Errorf("%q: a field check is field:RESOURCE:ATTRIBUTE=VALUE", s)
	}
	if re, isRE := strings.CutPrefix(value, "~"); isRE {
		// Python's re.match anchors at the start only.
		c, err := regexp.Compile(`^(?:` + re + `)`)
		if err != nil {
			return nil, fmt.Errorf("%q: bad regular expression: %w", s, err)
		}
		return &node{op: opFieldRE, name: attr, re: c}, nil
	}
	return &node{op: opField, name: attr, value: normalize(unquote(value))}, nil
}

// constant interprets a check's kind as a Python literal, as oslo.policy's
// GenericCheck does: a quoted string, True, False, None or a number.
func constant(kind string) (string, bool) {
	if len(kind) >= 2 && (kind[0] == '\'' || kind[0] == '"') && kind[len(kind)-1] == kind[0] {
		return kind[1 : len(kind)-1], true
	}
	switch kind {
	case "True", "False", "None":
		return kind, true
	}
	if kind[0] >= '0' && kind[0] <= '9' || kind[0] == '-' && len(kind) > 1 {
		for _, c := range kind[1:] {
			if (c < '0' || c > '9') && c != '.' {
				return "", false
			}
		}
		return kind, true
	}
	return "", false
}

// unquote strips one pair of matching quotes.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// normalize spells booleans as Python prints them, so that "true" in a
// rule matches a target's True.
func normalize(v string) string {
	switch strings.ToLower(v) {
	case "true":
		return "True"
	case "false":
		return "False"
	}
	return v
}
