package ovsdb

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// fieldCache memoises structFields per type.
var fieldCache sync.Map // reflect.Type -> map[string]int

// structFields returns the tagged fields of struct type t: column → field
// index. The map is shared: read only.
func structFields(t reflect.Type) map[string]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := computeFields(t)
	fieldCache.Store(t, m)
	return m
}

func computeFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("ovsdb")
		name, _, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out[name] = i
	}
	return out
}

func structValue(v any) (reflect.Value, error) {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return rv, errors.New("ovsdb: nil pointer")
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return rv, fmt.Errorf("ovsdb: %T is not a struct", v)
	}
	return rv, nil
}

// Marshal converts a typed row, a struct or pointer to struct whose fields
// carry `ovsdb:"column"` tags, into a Row. The "_uuid" column is left out.
// With columns given, only those columns are included (for an update that
// sets some columns only), and naming a column the struct lacks is an
// error. The values are the fields' own (the encoding to the wire happens
// in Transact with the schema): string, integers, float64, bool, UUID,
// pointers to those (nil is the empty set), slices (sets) and maps.
func Marshal(v any, columns ...string) (Row, error) {
	rv, err := structValue(v)
	if err != nil {
		return nil, err
	}
	fields := structFields(rv.Type())
	row := Row{}
	if len(columns) > 0 {
		for _, col := range columns {
			i, ok := fields[col]
			if !ok {
				return nil, fmt.Errorf("ovsdb: %s has no column %q", rv.Type(), col)
			}
			row[col] = rv.Field(i).Interface()
		}
		return row, nil
	}
	for col, i := range fields {
		if col == "_uuid" || col == "_version" {
			continue
		}
		row[col] = rv.Field(i).Interface()
	}
	return row, nil
}

// Unmarshal fills the tagged fields of the struct *v from row, converting
// decoded values to the fields' types (a set of at most one element to a
// scalar or pointer, a Set to a slice, a Map to a Go map; a UUID to a
// string). Columns missing from row leave their fields untouched.
func Unmarshal(row Row, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("ovsdb: Unmarshal needs a pointer to a struct, not %T", v)
	}
	rv = rv.Elem()
	for col, i := range structFields(rv.Type()) {
		val, ok := row[col]
		if !ok {
			continue
		}
		if err := assign(rv.Field(i), val); err != nil {
			return fmt.Errorf("ovsdb: column %s into %s.%s: %w", col, rv.Type(), rv.Type().Field(i).Name, err)
		}
	}
	return nil
}

// assign stores the decoded value val into dst.
func assign(dst reflect.Value, val any) error {
	if dst.Kind() == reflect.Interface {
		if val == nil {
			dst.SetZero()
		} else {
			dst.Set(reflect.ValueOf(val))
		}
		return nil
	}
	switch dst.Kind() {
	case reflect.Pointer:
		elems, isSet := val.(Set)
		if !isSet {
			elems = Set{val}
		}
		switch len(elems) {
		case 0:
			dst.SetZero()
			return nil
		case 1:
			p := reflect.New(dst.Type().Elem())
			if err := assign(p.Elem(), elems[0]); err != nil {
				return err
			}
			dst.Set(p)
			return nil
		}
		return fmt.Errorf("%d values for a pointer", len(elems))
	case reflect.Slice:
		elems, isSet := val.(Set)
		if !isSet {
			if val == nil {
				dst.SetZero()
				return nil
			}
			elems = Set{val}
		}
		if len(elems) == 0 {
			dst.SetZero()
			return nil
		}
		s := reflect.MakeSlice(dst.Type(), len(elems), len(elems))
		for i, e := range elems {
			if err := assign(s.Index(i), e); err != nil {
				return err
			}
		}
		dst.Set(s)
		return nil
	case reflect.Map:
		m, ok := val.(Map)
		if !ok {
			return fmt.Errorf("%T for a map", val)
		}
		if len(m) == 0 {
			dst.SetZero()
			return nil
		}
		out := reflect.MakeMapWithSize(dst.Type(), len(m))
		for k, v := range m {
			kv := reflect.New(dst.Type().Key()).Elem()
			if err := assign(kv, k); err != nil {
				return err
			}
			vv := reflect.New(dst.Type().Elem()).Elem()
			if err := assign(vv, v); err != nil {
				return err
			}
			out.SetMapIndex(kv, vv)
		}
		dst.Set(out)
		return nil
	}
	// A scalar field: an optional column's Set holds zero or one atom.
	if s, ok := val.(Set); ok {
		switch len(s) {
		case 0:
			dst.SetZero()
			return nil
		case 1:
			val = s[0]
		default:
			return fmt.Errorf("%d values for a scalar", len(s))
		}
	}
	switch x := val.(type) {
	case string:
		if dst.Kind() == reflect.String {
			dst.SetString(x)
			return nil
		}
	case UUID:
		if dst.Kind() == reflect.String {
			dst.SetString(string(x))
			return nil
		}
	case NamedUUID:
		if dst.Kind() == reflect.String {
			dst.SetString(string(x))
			return nil
		}
	case int:
		switch {
		case slices.Contains([]reflect.Kind{reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64}, dst.Kind()):
			if dst.OverflowInt(int64(x)) {
				return fmt.Errorf("%d overflows %s", x, dst.Type())
			}
			dst.SetInt(int64(x))
			return nil
		case slices.Contains([]reflect.Kind{reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64}, dst.Kind()):
			if x < 0 || dst.OverflowUint(uint64(x)) {
				return fmt.Errorf("%d overflows %s", x, dst.Type())
			}
			dst.SetUint(uint64(x))
			return nil
		case dst.Kind() == reflect.Float64 || dst.Kind() == reflect.Float32:
			dst.SetFloat(float64(x))
			return nil
		}
	case float64:
		if dst.Kind() == reflect.Float64 || dst.Kind() == reflect.Float32 {
			dst.SetFloat(x)
			return nil
		}
	case bool:
		if dst.Kind() == reflect.Bool {
			dst.SetBool(x)
			return nil
		}
	}
	return fmt.Errorf("cannot store %T in %s", val, dst.Type())
}
