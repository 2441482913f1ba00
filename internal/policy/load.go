package policy

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error reports every problem found in a rule set: syntax errors, unknown
// rule references, cycles, malformed checks. Problems are sorted and each
// names its rule and where it was defined.
type Error struct {
	File     string
	Problems []string
}

func (e *Error) Error() string {
	where := "policy"
	if e.File != "" {
		where = "policy file " + e.File
	}
	noun := "problems"
	if len(e.Problems) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("%s: %d %s:\n  %s", where, len(e.Problems), noun, strings.Join(e.Problems, "\n  "))
}

// source is a rule's text and where it was defined.
type source struct {
	text, where string
}

// Default returns an engine with Neutron's default rules only.
func Default() *Engine {
	e, err := build(defaultSources(), nil, "", nil, nil)
	if err != nil {
		panic(fmt.Sprintf("policy: the built-in defaults do not compile: %v", err))
	}
	return e
}

// Load returns an engine with Neutron's defaults overridden by the rules
// of the YAML (or JSON) file at path: a mapping of rule names to rule
// strings. An empty path means the defaults alone. Every problem in the
// file is reported at once, in an *Error.
func Load(path string) (*Engine, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return Parse(data, path)
}

// Parse is Load on the file's contents; name is used in messages.
func Parse(data []byte, name string) (*Engine, error) {
	over, broken, problems := parseFile(data, name)
	return build(defaultSources(), over, name, broken, problems)
}

// parseFile reads the mapping of rule names to rule strings, with the
// line each rule is on. broken names the rules that are defined but
// unusable (reported in problems), so that references to them are not
// reported again.
func parseFile(data []byte, name string) (rules map[string]source, broken map[string]bool, problems []string) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, []string{fmt.Sprintf("not valid YAML: %v", err)}
	}
	out := map[string]source{}
	broken = map[string]bool{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return out, broken, nil // an empty file overrides nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, []string{fmt.Sprintf("%s:%d: the file must be a mapping of rule names to rules", name, root.Line)}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		where := fmt.Sprintf("%s:%d", name, k.Line)
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			problems = append(problems, fmt.Sprintf("%s: a rule name must be a non-empty string", where))
			continue
		}
		if prev, dup := out[k.Value]; dup {
			problems = append(problems, fmt.Sprintf("%s: rule %q: defined twice (first at %s)", where, k.Value, prev.where))
			continue
		}
		if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
			problems = append(problems, fmt.Sprintf("%s: rule %q: the rule must be a string (quote it; \"\" always passes)", where, k.Value))
			broken[k.Value] = true
			continue
		}
		out[k.Value] = source{text: v.Value, where: where}
	}
	return out, broken, problems
}

// build compiles defaults overridden by over, resolving references. It
// reports problems (with those found earlier, pre) in an *Error; broken
// names rules already reported as unusable.
func build(defaults, over map[string]source, file string, broken map[string]bool, pre []string) (*Engine, error) {
	all := map[string]source{}
	for k, v := range defaults {
		all[k] = v
	}
	for k, v := range over {
		all[k] = v
	}
	e := &Engine{rules: map[string]*rule{}}
	refs := map[string][]string{}
	problems := append([]string(nil), pre...)
	for name, src := range all {
		root, rs, err := parseRule(src.text)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: rule %q: %v", src.where, name, err))
			continue
		}
		e.rules[name] = &rule{name: name, text: src.text, source: src.where, root: root}
		refs[name] = rs
	}
	for name, r := range e.rules {
		var missing []string
		resolve(r.root, e.rules, &missing)
		for _, m := range missing {
			if _, defined := all[m]; defined || broken[m] {
				continue // its own problem is reported
			}
			problems = append(problems, fmt.Sprintf("%s: rule %q: refers to undefined rule %q", r.source, name, m))
		}
	}
	problems = append(problems, cycles(e.rules, refs)...)
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, &Error{File: file, Problems: problems}
	}
	e.dflt = e.rules["default"]
	e.admin = e.rules["context_is_admin"]
	return e, nil
}

// resolve points every rule:NAME node at its rule, listing missing names.
func resolve(n *node, rules map[string]*rule, missing *[]string) {
	if n.op == opRule {
		r, ok := rules[n.name]
		if !ok {
			*missing = append(*missing, n.name)
			// Never reached: the engine is not built with problems.
			n.ref = &rule{root: &node{op: opFalse}}
			return
		}
		n.ref = r
	}
	for _, k := range n.kids {
		resolve(k, rules, missing)
	}
}

// cycles reports rules that refer to themselves, directly or not.
func cycles(rules map[string]*rule, refs map[string][]string) []string {
	const (
		active = iota + 1
		done
	)
	state := map[string]int{}
	var problems []string
	var path []string
	var visit func(string)
	visit = func(name string) {
		switch state[name] {
		case done:
			return
		case active:
			i := len(path) - 1
			for i > 0 && path[i] != name {
				i--
			}
			cyc := append(append([]string{}, path[i:]...), name)
			problems = append(problems, fmt.Sprintf("%s: rule %q: refers to itself: %s", rules[name].source, name, strings.Join(cyc, " -> ")))
			return
		}
		if _, ok := rules[name]; !ok {
			return
		}
		state[name] = active
		path = append(path, name)
		for _, r := range refs[name] {
			visit(r)
		}
		path = path[:len(path)-1]
		state[name] = done
	}
	names := make([]string, 0, len(rules))
	for n := range rules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		visit(n)
	}
	return problems
}
