package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/spinel-net/spinel/internal/neutron"
)

// Field is one attribute of a resource, derived from its struct tags.
type Field struct {
	Name     string // JSON name
	Index    []int  // reflect field index path
	Type     reflect.Type
	Post     bool // settable on create
	Put      bool // settable on update
	Required bool // required on create
	Filter   bool // usable as list filter and sort key
	Max      int  // string length limit, 0 for none
	// ZeroDefault says the attribute's default is its zero value: on
	// create, policy rules on the attribute do not apply to it (Neutron
	// checks an attribute's rule only for values other than its default).
	ZeroDefault bool
	// Internal attributes are stored but never shown to anyone.
	Internal bool
}

// Schema is the attribute table of one resource type.
type Schema struct {
	// HasInternal is set when some attribute is stored but never shown:
	// the stored document is then not the API representation.
	HasInternal bool
	Fields      []*Field
	byName      map[string]*Field
	typ         reflect.Type
}

var schemas sync.Map // reflect.Type -> *Schema

// SchemaOf returns the schema of obj's type (a pointer to a resource struct).
func SchemaOf(obj Object) *Schema {
	t := reflect.TypeOf(obj).Elem()
	if s, ok := schemas.Load(t); ok {
		return s.(*Schema)
	}
	s := &Schema{byName: map[string]*Field{}, typ: t}
	collect(s, t, nil)
	schemas.Store(t, s)
	return s
}

func collect(s *Schema, t reflect.Type, index []int) {
	for i := range t.NumField() {
		sf := t.Field(i)
		idx := append(slices.Clone(index), i)
		if sf.Anonymous {
			collect(s, sf.Type, idx)
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		f := &Field{Name: name, Index: idx, Type: sf.Type, Filter: true}
		for _, opt := range strings.Split(sf.Tag.Get("attr"), ",") {
			switch {
			case opt == "post":
				f.Post = true
			case opt == "put":
				f.Put = true
			case opt == "req":
				f.Required = true
			case opt == "nofilter":
				f.Filter = false
			case opt == "zerodefault":
				f.ZeroDefault = true
			case opt == "internal":
				f.Internal = true
				f.Filter = false
				s.HasInternal = true
			case strings.HasPrefix(opt, "max="):
				f.Max, _ = strconv.Atoi(opt[4:])
			}
		}
		s.Fields = append(s.Fields, f)
		s.byName[name] = f
	}
}

// Field returns the named attribute.
func (s *Schema) Field(name string) (*Field, bool) {
	f, ok := s.byName[name]
	return f, ok
}

// Value returns the attribute's value in obj.
func (f *Field) Value(obj Object) reflect.Value {
	return reflect.ValueOf(obj).Elem().FieldByIndex(f.Index)
}

// Op says which request a body belongs to.
type Op int

// The request kinds a body can belong to.
const (
	Create Op = iota
	Update
)

// Present is the set of attributes a request body gave.
type Present map[string]bool

// Has reports whether the body gave attribute name.
func (p Present) Has(name string) bool { return p[name] }

// Decode validates one resource's request body (the object inside the
// {"<resource>": {...}} envelope) against the schema of into and stores
// each given attribute in into. It refuses, as Neutron does, unknown
// attributes (400), attributes not allowed for op (400), values of the
// wrong type or over their length limit (400) and, on create, missing
// required attributes (400). It returns the set of attributes given.
// Whether the caller may set them is policy's business: see PolicyAttrs.
func Decode(body map[string]json.RawMessage, into Object, op Op) (Present, error) {
	s := SchemaOf(into)
	var unknown []string
	for k := range body {
		if f, ok := s.byName[k]; !ok || (f.Internal && !f.Post) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, neutron.BadRequest("Unrecognized attribute(s) '%s'", strings.Join(unknown, ", "))
	}
	present := Present{}
	v := reflect.ValueOf(into).Elem()
	// Deterministic order so that the first error reported is stable.
	for _, f := range s.Fields {
		raw, ok := body[f.Name]
		if !ok {
			continue
		}
		switch {
		case op == Create && !f.Post:
			return nil, neutron.BadRequest("Attribute '%s' not allowed in POST", f.Name)
		case op == Update && !f.Put:
			return nil, neutron.BadRequest("Cannot update read-only attribute %s", f.Name)
		}
		fv := v.FieldByIndex(f.Index)
		if err := decodeValue(raw, fv, f); err != nil {
			return nil, err
		}
		present[f.Name] = true
	}
	if op == Create {
		for _, f := range s.Fields {
			if f.Required && !present[f.Name] {
				return nil, neutron.BadRequest("Failed to parse request. Required attribute '%s' not specified", f.Name)
			}
		}
	}
	return present, nil
}

func decodeValue(raw json.RawMessage, dst reflect.Value, f *Field) error {
	raw = bytes.TrimSpace(raw)
	isNull := bytes.Equal(raw, []byte("null"))
	k := dst.Kind()
	if isNull {
		if k == reflect.Pointer || k == reflect.Map {
			dst.SetZero()
			return nil
		}
		if k == reflect.Slice {
			dst.SetZero()
			return nil
		}
		return neutron.InvalidAttribute(f.Name, fmt.Sprintf("'None' is not a valid %s", kindName(dst.Type())))
	}
	target := dst
	if k == reflect.Pointer {
		target = reflect.New(dst.Type().Elem()).Elem()
	}
	switch target.Kind() {
	case reflect.Bool:
		b, err := parseBool(raw)
		if err != nil {
			return neutron.InvalidInput("'%s' cannot be converted to boolean", strings.Trim(string(raw), `"`))
		}
		target.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := parseInt(raw)
		if err != nil {
			return neutron.InvalidInput("'%s' is not an integer", strings.Trim(string(raw), `"`))
		}
		target.SetInt(n)
	case reflect.String:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return neutron.InvalidAttribute(f.Name, fmt.Sprintf("'%s' is not a valid string", string(raw)))
		}
		if f.Max > 0 && len(s) > f.Max {
			return neutron.InvalidAttribute(f.Name, fmt.Sprintf("'%s' exceeds maximum length of %d", s, f.Max))
		}
		target.SetString(s)
	default:
		p := reflect.New(target.Type())
		if err := json.Unmarshal(raw, p.Interface()); err != nil {
			return neutron.InvalidAttribute(f.Name, fmt.Sprintf("'%s' is not a valid %s", truncate(string(raw), 80), kindName(target.Type())))
		}
		target.Set(p.Elem())
	}
	if k == reflect.Pointer {
		p := reflect.New(dst.Type().Elem())
		p.Elem().Set(target)
		dst.Set(p)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func kindName(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64:
		return "integer"
	case reflect.Slice:
		return "list"
	case reflect.Map, reflect.Struct:
		return "dictionary"
	}
	return t.String()
}

// parseBool accepts what Neutron's convert_to_boolean accepts: JSON
// booleans, 0 and 1, and the strings "true"/"false"/"1"/"0" in any case.
func parseBool(raw json.RawMessage) (bool, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, err
	}
	switch x := v.(type) {
	case bool:
		return x, nil
	case float64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case string:
		return ParseBoolString(x)
	}
	return false, fmt.Errorf("not a boolean")
}

// ParseBoolString parses a boolean as Neutron (oslo strutils) does in
// query strings and bodies.
func ParseBoolString(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "t", "on", "y", "yes":
		return true, nil
	case "false", "0", "f", "off", "n", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}

// parseInt accepts JSON integers and strings holding integers, as Neutron's convert_to_int.
func parseInt(raw json.RawMessage) (int64, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case json.Number:
		return strconv.ParseInt(x.String(), 10, 64)
	case string:
		return strconv.ParseInt(strings.TrimSpace(x), 10, 64)
	}
	return 0, fmt.Errorf("not an integer")
}

// FillEmpty replaces nil slices and maps in obj with empty ones, so that
// they encode as [] and {} as Neutron's do.
func FillEmpty(obj Object) {
	v := reflect.ValueOf(obj).Elem()
	for _, f := range SchemaOf(obj).Fields {
		fv := v.FieldByIndex(f.Index)
		switch fv.Kind() {
		case reflect.Slice:
			if fv.IsNil() {
				fv.Set(reflect.MakeSlice(fv.Type(), 0, 0))
			}
		case reflect.Map:
			if fv.IsNil() {
				fv.Set(reflect.MakeMap(fv.Type()))
			}
		}
	}
}
