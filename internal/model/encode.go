package model

import (
	"bytes"
	"encoding/json"
	"slices"
)

// AppendJSON appends obj's JSON representation to buf, leaving out the
// attributes named in hidden (those the caller may not see) and internal
// ones. With fields non-empty only those attributes are written (unknown
// names are ignored, as in Neutron).
func AppendJSON(buf *bytes.Buffer, obj Object, fields []string, hidden []string) error {
	s := SchemaOf(obj)
	if len(fields) == 0 && len(hidden) == 0 && !s.HasInternal {
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		buf.Write(b)
		return nil
	}
	want := func(f *Field) bool { return !f.Internal && !slices.Contains(hidden, f.Name) }
	if len(fields) > 0 {
		want = func(f *Field) bool {
			return slices.Contains(fields, f.Name) && !f.Internal && !slices.Contains(hidden, f.Name)
		}
	}
	buf.WriteByte('{')
	first := true
	for _, f := range s.Fields {
		if !want(f) {
			continue
		}
		v := f.Value(obj)
		if f.Name == "prefixlen" && v.IsNil() { // omitempty in the struct
			continue
		}
		b, err := json.Marshal(v.Interface())
		if err != nil {
			return err
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		nb, _ := json.Marshal(f.Name)
		buf.Write(nb)
		buf.WriteByte(':')
		buf.Write(b)
	}
	buf.WriteByte('}')
	return nil
}
