package ovsdb

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

func TestParseNBSchema(t *testing.T) {
	data, err := os.ReadFile("/usr/share/ovn/ovn-nb.ovsschema")
	if err != nil {
		t.Fatalf("install Debian's ovn-common: %v", err)
	}
	s, err := ParseSchema(data)
	if err != nil {
		t.Fatal(err)
	}
	lsp := s.Table("Logical_Switch_Port")
	if lsp == nil || lsp.IsRoot || len(lsp.Indexes) != 1 {
		t.Fatalf("Logical_Switch_Port: %+v", lsp)
	}
	for col, want := range map[string]ColumnType{
		"name":           {Key: BaseType{Type: TypeString}, Min: 1, Max: 1},
		"addresses":      {Key: BaseType{Type: TypeString}, Min: 0, Max: -1},
		"tag_request":    {Key: BaseType{Type: TypeInteger}, Min: 0, Max: 1},
		"dhcpv4_options": {Key: BaseType{Type: TypeUUID, RefTable: "DHCP_Options", RefType: "weak"}, Min: 0, Max: 1},
		"options":        {Key: BaseType{Type: TypeString}, Value: &BaseType{Type: TypeString}, Min: 0, Max: -1},
	} {
		if got := lsp.Column(col).Type; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, want %+v", col, got, want)
		}
	}
	if enum := s.Table("ACL").Column("action").Type.Key.Enum; len(enum) != 5 {
		t.Errorf("ACL action enum %v", enum)
	}
	if s.Table("Logical_Switch").Column("_uuid") == nil {
		t.Error("no _uuid column")
	}
	for _, bad := range []string{`{}`, `{"name":"x","tables":{"T":{"columns":{"c":{"type":"blob"}}}}}`,
		`{"name":"x","tables":{"T":{"columns":{"c":{"type":{"key":"string","max":"lots"}}}}}}`, `[`} {
		if _, err := ParseSchema([]byte(bad)); err == nil {
			t.Errorf("ParseSchema(%s): no error", bad)
		}
	}
}

func TestValueEncoding(t *testing.T) {
	str := BaseType{Type: TypeString}
	intT := BaseType{Type: TypeInteger}
	uuidT := BaseType{Type: TypeUUID}
	scalar := ColumnType{Key: str, Min: 1, Max: 1}
	optional := ColumnType{Key: intT, Min: 0, Max: 1}
	set := ColumnType{Key: str, Min: 0, Max: -1}
	refs := ColumnType{Key: uuidT, Min: 0, Max: -1}
	smap := ColumnType{Key: str, Value: &str, Min: 0, Max: -1}
	u := "8d7c0ec9-1b29-4bca-9c5e-0b2b1bf2d0d3"
	s := "x"
	for _, tc := range []struct {
		name string
		ct   ColumnType
		in   any
		wire string
		back any
	}{
		{"scalar", scalar, "a", `"a"`, "a"},
		{"scalar pointer", scalar, &s, `"x"`, "x"},
		{"optional empty", optional, (*int)(nil), `["set",[]]`, Set{}},
		{"optional value", optional, 7, `7`, Set{7}},
		{"optional uint", optional, uint16(7), `7`, Set{7}},
		{"set", set, []string{"a", "b"}, `["set",["a","b"]]`, Set{"a", "b"}},
		{"set of one atom", set, "a", `["set",["a"]]`, Set{"a"}},
		{"nil set", set, nil, `["set",[]]`, Set{}},
		{"refs", refs, []string{u, "named"}, `["set",[["uuid","` + u + `"],["named-uuid","named"]]]`, Set{UUID(u), NamedUUID("named")}},
		{"typed refs", refs, Set{UUID(u), NamedUUID("n")}, `["set",[["uuid","` + u + `"],["named-uuid","n"]]]`, Set{UUID(u), NamedUUID("n")}},
		{"map", smap, map[string]string{"b": "2", "a": "1"}, `["map",[["a","1"],["b","2"]]]`, Map{"a": "1", "b": "2"}},
		{"Map", smap, Map{"a": "1"}, `["map",[["a","1"]]]`, Map{"a": "1"}},
		{"nil map", smap, nil, `["map",[]]`, Map{}},
	} {
		w, err := encodeValue(tc.ct, tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		data, _ := json.Marshal(w)
		if string(data) != tc.wire {
			t.Errorf("%s: wire %s, want %s", tc.name, data, tc.wire)
		}
		parsed, _ := decodeJSON(data)
		back, err := decodeValue(tc.ct, parsed)
		if err != nil || !reflect.DeepEqual(back, tc.back) {
			t.Errorf("%s: decoded %#v (%v), want %#v", tc.name, back, err, tc.back)
		}
	}
	for name, tc := range map[string]struct {
		ct ColumnType
		in any
	}{
		"struct for string": {scalar, struct{}{}},
		"two for scalar":    {scalar, Set{"a", "b"}},
		"float for int":     {optional, 1.5},
		"map for set":       {set, map[string]string{}},
		"set for map":       {smap, []string{"a"}},
		"int key":           {smap, map[int]string{1: "a"}},
		"bad uuid":          {refs, []string{"no way"}},
		"huge uint":         {optional, uint64(1) << 63},
	} {
		if _, err := encodeValue(tc.ct, tc.in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for name, tc := range map[string]struct {
		ct   ColumnType
		wire string
	}{
		"string for int":   {optional, `"7"`},
		"bad map":          {smap, `["set",[]]`},
		"empty for scalar": {scalar, `["set",[]]`},
		"bad uuid":         {refs, `["set",["x"]]`},
	} {
		parsed, _ := decodeJSON([]byte(tc.wire))
		if _, err := decodeValue(tc.ct, parsed); err == nil {
			t.Errorf("decode %s: no error", name)
		}
	}
}

func TestUnmarshalConversions(t *testing.T) {
	type row struct {
		UUID  string            `ovsdb:"_uuid"`
		Name  string            `ovsdb:"name"`
		Opt   *string           `ovsdb:"opt"`
		Int   int               `ovsdb:"int"`
		Small uint8             `ovsdb:"small"`
		Refs  []string          `ovsdb:"refs"`
		M     map[string]string `ovsdb:"m"`
		Any   any               `ovsdb:"any"`
		Skip  string
	}
	var r row
	err := Unmarshal(Row{"_uuid": UUID("u"), "name": "n", "opt": Set{"o"}, "int": Set{3}, "small": 200,
		"refs": Set{UUID("a"), UUID("b")}, "m": Map{"k": "v"}, "any": Set{1}, "Skip": "x"}, &r)
	if err != nil {
		t.Fatal(err)
	}
	if r.UUID != "u" || r.Name != "n" || *r.Opt != "o" || r.Int != 3 || r.Small != 200 ||
		!reflect.DeepEqual(r.Refs, []string{"a", "b"}) || r.M["k"] != "v" || !reflect.DeepEqual(r.Any, Set{1}) || r.Skip != "" {
		t.Fatalf("%+v", r)
	}
	if err := Unmarshal(Row{"opt": Set{}}, &r); err != nil || r.Opt != nil {
		t.Fatalf("empty optional: %v %v", r.Opt, err)
	}
	for name, bad := range map[string]Row{
		"overflow":      {"small": 300},
		"string→int":    {"int": "x"},
		"two→scalar":    {"name": Set{"a", "b"}},
		"set→map":       {"m": Set{"a"}},
		"two→pointer":   {"opt": Set{"a", "b"}},
		"negative→uint": {"small": -1},
	} {
		if err := Unmarshal(bad, &r); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := Unmarshal(Row{}, r); err == nil {
		t.Error("non-pointer: no error")
	}
	if _, err := Marshal(3); err == nil {
		t.Error("Marshal(int): no error")
	}
}
