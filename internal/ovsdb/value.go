package ovsdb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
)

// uuidRE matches a UUID in its canonical text form.
var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// namedUUIDRE matches a valid uuid-name (RFC 7047: an <id>).
var namedUUIDRE = regexp.MustCompile(`^[_a-zA-Z][_a-zA-Z0-9]*$`)

// IsUUID reports whether s is a UUID in canonical text form.
func IsUUID(s string) bool { return uuidRE.MatchString(s) }

// encodeValue converts v to the wire form of a value of type ct.
func encodeValue(ct ColumnType, v any) (any, error) {
	if ct.IsMap() {
		return encodeMap(ct, v)
	}
	if ct.IsScalar() {
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				return nil, errors.New("nil for a column that needs exactly one value")
			}
			v = rv.Elem().Interface()
		}
		if s, ok := v.(Set); ok && len(s) == 1 {
			v = s[0]
		}
		return encodeAtom(ct.Key, v)
	}
	elems, err := setElems(v)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(elems))
	for _, e := range elems {
		a, err := encodeAtom(ct.Key, e)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if ct.Max == 1 && len(out) == 1 {
		return out[0], nil
	}
	return []any{"set", out}, nil
}

// setElems returns the elements v stands for as a set: nil, a nil pointer
// and an empty slice are empty; a slice, array or Set is its elements; a
// non-nil pointer or an atom is one element.
func setElems(v any) ([]any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case Set:
		return x, nil
	case []any:
		return x, nil
	case Map:
		return nil, errors.New("a map for a set column")
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return nil, nil
		}
		return []any{rv.Elem().Interface()}, nil
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out, nil
	case reflect.Map:
		return nil, errors.New("a map for a set column")
	}
	return []any{v}, nil
}

func encodeMap(ct ColumnType, v any) (any, error) {
	pairs := [][]any{}
	add := func(k, val any) error {
		ek, err := encodeAtom(ct.Key, k)
		if err != nil {
			return fmt.Errorf("key: %w", err)
		}
		ev, err := encodeAtom(*ct.Value, val)
		if err != nil {
			return fmt.Errorf("value of %v: %w", k, err)
		}
		pairs = append(pairs, []any{ek, ev})
		return nil
	}
	switch x := v.(type) {
	case nil:
	case Map:
		for k, val := range x {
			if err := add(k, val); err != nil {
				return nil, err
			}
		}
	default:
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Map {
			return nil, fmt.Errorf("%T for a map column", v)
		}
		it := rv.MapRange()
		for it.Next() {
			if err := add(it.Key().Interface(), it.Value().Interface()); err != nil {
				return nil, err
			}
		}
	}
	// A stable order keeps requests deterministic (and logs readable).
	sort.Slice(pairs, func(i, j int) bool { return fmt.Sprint(pairs[i][0]) < fmt.Sprint(pairs[j][0]) })
	return []any{"map", pairs}, nil
}

// encodeAtom converts one atom to its wire form.
func encodeAtom(bt BaseType, v any) (any, error) {
	switch bt.Type {
	case TypeUUID:
		switch x := v.(type) {
		case UUID:
			if !IsUUID(string(x)) {
				return nil, fmt.Errorf("invalid uuid %q", string(x))
			}
			return []any{"uuid", string(x)}, nil
		case NamedUUID:
			if !namedUUIDRE.MatchString(string(x)) {
				return nil, fmt.Errorf("invalid uuid-name %q", string(x))
			}
			return []any{"named-uuid", string(x)}, nil
		}
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.String {
			return nil, fmt.Errorf("%T for a uuid", v)
		}
		s := rv.String()
		if IsUUID(s) {
			return []any{"uuid", s}, nil
		}
		if namedUUIDRE.MatchString(s) {
			return []any{"named-uuid", s}, nil
		}
		return nil, fmt.Errorf("%q is neither a uuid nor a uuid-name", s)
	case TypeString:
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.String {
			return nil, fmt.Errorf("%T for a string", v)
		}
		return rv.String(), nil
	case TypeInteger:
		if n, ok := v.(json.Number); ok {
			return n.Int64()
		}
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return rv.Int(), nil
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			u := rv.Uint()
			if u > math.MaxInt64 {
				return nil, fmt.Errorf("integer %d out of range", u)
			}
			return int64(u), nil
		}
		return nil, fmt.Errorf("%T for an integer", v)
	case TypeReal:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Float32, reflect.Float64:
			f := rv.Float()
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("real %v not representable", f)
			}
			return f, nil
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return float64(rv.Int()), nil
		}
		return nil, fmt.Errorf("%T for a real", v)
	case TypeBoolean:
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Bool {
			return nil, fmt.Errorf("%T for a boolean", v)
		}
		return rv.Bool(), nil
	}
	return nil, fmt.Errorf("unknown atomic type %q", bt.Type)
}

// decodeJSON parses one JSON value, keeping numbers as json.Number.
func decodeJSON(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// decodeValue converts a wire value (parsed by decodeJSON) of type ct to its
// Go form: the atom for a scalar column, Map for a map, Set otherwise.
func decodeValue(ct ColumnType, w any) (any, error) {
	if ct.IsMap() {
		arr, ok := w.([]any)
		if !ok || len(arr) != 2 || arr[0] != "map" {
			return nil, fmt.Errorf("not a map: %v", w)
		}
		pairs, ok := arr[1].([]any)
		if !ok {
			return nil, fmt.Errorf("not a map: %v", w)
		}
		m := make(Map, len(pairs))
		for _, p := range pairs {
			kv, ok := p.([]any)
			if !ok || len(kv) != 2 {
				return nil, fmt.Errorf("bad map pair %v", p)
			}
			k, err := decodeAtom(ct.Key, kv[0])
			if err != nil {
				return nil, err
			}
			v, err := decodeAtom(*ct.Value, kv[1])
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	}
	var elems []any
	if arr, ok := w.([]any); ok && len(arr) == 2 && arr[0] == "set" {
		inner, ok := arr[1].([]any)
		if !ok {
			return nil, fmt.Errorf("not a set: %v", w)
		}
		elems = inner
	} else {
		elems = []any{w}
	}
	set := make(Set, 0, len(elems))
	for _, e := range elems {
		a, err := decodeAtom(ct.Key, e)
		if err != nil {
			return nil, err
		}
		set = append(set, a)
	}
	if ct.IsScalar() {
		if len(set) != 1 {
			return nil, fmt.Errorf("%d values for a scalar column", len(set))
		}
		return set[0], nil
	}
	return set, nil
}

func decodeAtom(bt BaseType, w any) (any, error) {
	switch bt.Type {
	case TypeUUID:
		arr, ok := w.([]any)
		if ok && len(arr) == 2 && (arr[0] == "uuid" || arr[0] == "named-uuid") {
			if s, ok := arr[1].(string); ok {
				if arr[0] == "named-uuid" {
					return NamedUUID(s), nil
				}
				return UUID(s), nil
			}
		}
		return nil, fmt.Errorf("not a uuid: %v", w)
	case TypeString:
		if s, ok := w.(string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("not a string: %v", w)
	case TypeInteger:
		if n, ok := w.(json.Number); ok {
			i, err := n.Int64()
			if err != nil {
				return nil, fmt.Errorf("not an integer: %v", w)
			}
			return int(i), nil
		}
		return nil, fmt.Errorf("not an integer: %v", w)
	case TypeReal:
		if n, ok := w.(json.Number); ok {
			return n.Float64()
		}
		return nil, fmt.Errorf("not a real: %v", w)
	case TypeBoolean:
		if b, ok := w.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("not a boolean: %v", w)
	}
	return nil, fmt.Errorf("unknown atomic type %q", bt.Type)
}

// encodeRow converts a row's values with table's schema.
func encodeRow(ts *TableSchema, row Row) (map[string]any, error) {
	out := make(map[string]any, len(row))
	for col, v := range row {
		cs := ts.Column(col)
		if cs == nil {
			return nil, fmt.Errorf("unknown column %q", col)
		}
		w, err := encodeValue(cs.Type, v)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", col, err)
		}
		out[col] = w
	}
	return out, nil
}

// decodeRow converts a wire row (a JSON object) with table's schema,
// ignoring columns the schema does not know (a newer server).
func decodeRow(ts *TableSchema, w any) (Row, error) {
	obj, ok := w.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("row is not an object: %v", w)
	}
	row := make(Row, len(obj))
	for col, v := range obj {
		cs := ts.Column(col)
		if cs == nil {
			continue
		}
		d, err := decodeValue(cs.Type, v)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", col, err)
		}
		row[col] = d
	}
	return row, nil
}
