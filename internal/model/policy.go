package model

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
)

// PolicyAttrs returns the attribute-rule suffixes a request body brings
// into play, the way Neutron's policy engine builds them
// (neutron/policy.py _build_match_rule): every attribute the body gives
// ("shared" for create_network:shared) except, on create, one holding its
// zero default (tag zerodefault); and for an attribute whose value is an
// object or a list of objects, "attr:key" for every key given
// ("external_gateway_info:enable_snat", "fixed_ips:ip_address"). Call it
// after Decode succeeded on the same body and object.
func PolicyAttrs(body map[string]json.RawMessage, obj Object, op Op) []string {
	var out []string
	for _, f := range SchemaOf(obj).Fields {
		raw, ok := body[f.Name]
		if !ok {
			continue
		}
		if op == Create && f.ZeroDefault && f.Value(obj).IsZero() {
			continue
		}
		out = append(out, f.Name)
		if hasSubAttrs(f.Type) {
			for _, k := range subKeys(raw) {
				out = append(out, f.Name+":"+k)
			}
		}
	}
	return out
}

// hasSubAttrs reports whether values of t are objects, or lists of
// objects, with attributes of their own.
func hasSubAttrs(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}

// subKeys returns the keys of a JSON object, or of the objects in a JSON
// list, sorted and without repeats.
func subKeys(raw json.RawMessage) []string {
	raw = bytes.TrimSpace(raw)
	var objs []map[string]json.RawMessage
	if len(raw) > 0 && raw[0] == '[' {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return nil
		}
		for _, it := range list {
			var m map[string]json.RawMessage
			if json.Unmarshal(it, &m) == nil {
				objs = append(objs, m)
			}
		}
	} else {
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return nil
		}
		objs = append(objs, m)
	}
	seen := map[string]bool{}
	var out []string
	for _, m := range objs {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// PolicyValue returns obj's attribute name as policy rules compare it,
// spelled as Python's str() would: strings as they are, booleans True and
// False, integers in decimal, null None. Lists, objects and unknown
// attributes have no such value (false).
func PolicyValue(obj Object, name string) (string, bool) {
	f, ok := SchemaOf(obj).Field(name)
	if !ok || f.Internal {
		return "", false
	}
	v := f.Value(obj)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "None", true
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), true
	case reflect.Bool:
		if v.Bool() {
			return "True", true
		}
		return "False", true
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), true
	}
	return "", false
}
