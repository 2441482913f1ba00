package ovn

import (
	"fmt"
	"maps"
	"slices"

	"github.com/spinel-net/spinel/internal/ovsdb"
)

// Decoding of the values the ovsdb client hands out (see its package
// comment): optional columns come as a Set of zero or one atom, sets as a
// Set (or a lone atom), maps as a Map.

// strOf is a string column, or an optional one ("" when empty).
func strOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case ovsdb.Set:
		if len(x) == 1 {
			s, _ := x[0].(string)
			return s
		}
	}
	return ""
}

// boolOf is an optional boolean column; empty means def.
func boolOf(v any, def bool) bool {
	switch x := v.(type) {
	case bool:
		return x
	case ovsdb.Set:
		if len(x) == 1 {
			if b, ok := x[0].(bool); ok {
				return b
			}
		}
	}
	return def
}

// intOf is an integer column.
func intOf(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case int64:
		return int(x)
	case float64:
		return int(x)
	case ovsdb.Set:
		if len(x) == 1 {
			return intOf(x[0])
		}
	}
	return 0
}

// strSetOf is a set of strings, sorted.
func strSetOf(v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		out = []string{x}
	case ovsdb.Set:
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return out
}

// uuidsOf is a set of references.
func uuidsOf(v any) []ovsdb.UUID {
	switch x := v.(type) {
	case ovsdb.UUID:
		return []ovsdb.UUID{x}
	case ovsdb.Set:
		out := make([]ovsdb.UUID, 0, len(x))
		for _, e := range x {
			if u, ok := e.(ovsdb.UUID); ok {
				out = append(out, u)
			}
		}
		return out
	}
	return nil
}

// strMapOf is a map of strings to strings.
func strMapOf(v any) map[string]string {
	out := map[string]string{}
	if m, ok := v.(ovsdb.Map); ok {
		for k, val := range m {
			out[fmt.Sprint(k)] = fmt.Sprint(val)
		}
	}
	return out
}

// isOwned reports whether a row carries this driver's owner marker.
func isOwned(row ovsdb.Row) bool {
	if m, ok := row["external_ids"].(ovsdb.Map); ok {
		return m[OwnerKey] == OwnerValue
	}
	return false
}

// sameIDs compares external_ids, ignoring the revision number: a revision
// bump alone (a status change) is not worth a write; it is written with
// the next real change.
func sameIDs(cur, want map[string]string) bool {
	return maps.EqualFunc(without(cur, keyRevision), without(want, keyRevision), func(a, b string) bool { return a == b })
}

func without(m map[string]string, key string) map[string]string {
	if _, ok := m[key]; !ok {
		return m
	}
	c := maps.Clone(m)
	delete(c, key)
	return c
}

func sameMap(a, b map[string]string) bool { return maps.Equal(a, b) }
