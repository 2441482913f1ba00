package model

import (
	"bytes"
	"encoding/json"
)

// AppendJSON appends obj's JSON representation to buf. Admins see every
// attribute; others do not see hidden ones. With fields non-empty only
// those attributes are written (unknown names are ignored, as in Neutron).
func AppendJSON(buf *bytes.Buffer, obj Object, fields []string, admin bool) error {
	s := SchemaOf(obj)
	if len(fields) == 0 && admin && !s.HasInternal {
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		buf.Write(b)
		return nil
	}
	want := func(f *Field) bool { return !f.Internal && (admin || !f.Hidden) }
	if len(fields) > 0 {
		set := map[string]bool{}
		for _, f := range fields {
			set[f] = true
		}
		want = func(f *Field) bool { return set[f.Name] && !f.Internal && (admin || !f.Hidden) }
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
