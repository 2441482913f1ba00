package clientout

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

var cols = []Column{Col("ID"), Col("Name"), {Name: "State", Human: func(v any) string {
	if v == true {
		return "UP"
	}
	return "DOWN"
}}, Col("Subnets"), Col("MTU")}

func rows(t *testing.T) [][]any {
	return [][]any{
		{"id-1", "net one", true, decode(t, `["s2","s1"]`), json.Number("1500")},
		{"id-2", nil, false, decode(t, `[]`), json.Number("9000")},
	}
}

func TestListTable(t *testing.T) {
	var b bytes.Buffer
	if err := List(&b, Options{}, cols, rows(t)); err != nil {
		t.Fatal(err)
	}
	want := `+------+---------+-------+---------+------+
| ID   | Name    | State | Subnets |  MTU |
+------+---------+-------+---------+------+
| id-1 | net one | UP    | s1, s2  | 1500 |
| id-2 | None    | DOWN  |         | 9000 |
+------+---------+-------+---------+------+
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := List(&b, Options{}, cols, nil); err != nil || b.Len() != 0 {
		t.Errorf("empty list printed %q, %v", b.String(), err)
	}
}

func TestListJSONKeepsColumnOrder(t *testing.T) {
	var b bytes.Buffer
	if err := List(&b, Options{Format: "json", Columns: []string{"MTU", "ID", "Subnets"}}, cols, rows(t)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Index(out, `"ID"`) > strings.Index(out, `"Subnets"`) || strings.Index(out, `"Subnets"`) > strings.Index(out, `"MTU"`) {
		t.Errorf("columns not in the command's order:\n%s", out)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0]["ID"] != "id-1" || got[0]["MTU"] != 1500.0 || len(got[0]["Subnets"].([]any)) != 2 || len(got[0]) != 3 {
		t.Errorf("json: %v", got)
	}
	if !strings.Contains(out, "\n  {\n    \"ID\"") {
		t.Errorf("not indented by 2:\n%s", out)
	}
	b.Reset()
	List(&b, Options{Format: "json", NoIndent: true}, cols, rows(t))
	if strings.Count(b.String(), "\n") != 1 {
		t.Errorf("--noindent: %q", b.String())
	}
}

func TestListYAMLAndValue(t *testing.T) {
	var b bytes.Buffer
	if err := List(&b, Options{Format: "yaml"}, cols, rows(t)); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := yaml.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0]["MTU"] != 1500 || got[1]["Name"] != nil || got[0]["State"] != true {
		t.Errorf("yaml: %v\n%s", got, b.String())
	}
	b.Reset()
	if err := List(&b, Options{Format: "value"}, cols, rows(t)); err != nil {
		t.Fatal(err)
	}
	want := "id-1 net one True ['s2', 's1'] 1500\nid-2 None False [] 9000\n"
	if b.String() != want {
		t.Errorf("value: got %q, want %q", b.String(), want)
	}
}

func TestShow(t *testing.T) {
	var b bytes.Buffer
	fixed := decode(t, `[{"subnet_id":"s1","ip_address":"10.0.0.3"},{"subnet_id":"s2","ip_address":"fd00::3"}]`)
	show := []Column{Col("fixed_ips"), Col("id"), Col("profile")}
	vals := []any{fixed, "p1", decode(t, `{"b":1,"a":{"x":"y"},"c":null}`)}
	if err := Show(&b, Options{}, show, vals); err != nil {
		t.Fatal(err)
	}
	want := `+-----------+---------------------------------------+
| Field     | Value                                 |
+-----------+---------------------------------------+
| fixed_ips | ip_address='10.0.0.3', subnet_id='s1' |
|           | ip_address='fd00::3', subnet_id='s2'  |
| id        | p1                                    |
| profile   | a.x='y', b='1', c=                    |
+-----------+---------------------------------------+
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	Show(&b, Options{Format: "value", Columns: []string{"id"}}, show, vals)
	if b.String() != "p1\n" {
		t.Errorf("value -c id: %q", b.String())
	}
	b.Reset()
	Show(&b, Options{Format: "json"}, show, vals)
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil || m["id"] != "p1" || len(m["fixed_ips"].([]any)) != 2 {
		t.Errorf("json: %v %v", m, err)
	}
}

func TestOptionErrors(t *testing.T) {
	var b bytes.Buffer
	err := List(&b, Options{Format: "xml"}, cols, rows(t))
	if err == nil || !strings.Contains(err.Error(), `unknown output format "xml"`) {
		t.Errorf("bad format: %v", err)
	}
	err = Show(&b, Options{Columns: []string{"nope"}}, cols, rows(t)[0])
	if err == nil || !strings.Contains(err.Error(), "no recognized column names in nope") {
		t.Errorf("bad column: %v", err)
	}
	if b.Len() != 0 {
		t.Errorf("printed %q on error", b.String())
	}
}

func TestPython(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{`null`, "None"}, {`true`, "True"}, {`"x"`, "x"}, {`12`, "12"},
		{`["a", "it's"]`, `['a', "it's"]`},
		{`{"b": [1, null], "a": false}`, `{'a': False, 'b': [1, None]}`},
	} {
		if got := Python(decode(t, tc.in)); got != tc.want {
			t.Errorf("Python(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
