// Package clientout renders a client command's result the way the
// openstack CLI (cliff) does: a table by default (a row per resource for
// lists, Field/Value for one resource), or json, yaml or value, restricted
// to the columns asked for with -c.
//
// Values are machine-readable (decoded JSON: strings, json.Number, bools,
// nil, []any, map[string]any). json and yaml print them as they are; value
// prints them as the openstack CLI's Python does (None, True, ['a']); table
// prints a column's Human rendering, Human by default.
package clientout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Formats are the output formats accepted by -f.
var Formats = []string{"table", "json", "yaml", "value"}

// Options are the output flags of a command.
type Options struct {
	Format   string   // table (default), json, yaml or value
	Columns  []string // -c: only these columns, in the command's order
	NoIndent bool     // json on one line
}

// AddFlags registers -f/--format, -c/--column and --noindent on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.Format, "format", "f", "table", "output format: "+strings.Join(Formats, ", "))
	fs.StringArrayVarP(&o.Columns, "column", "c", nil, "show only this column (repeat for more)")
	fs.BoolVar(&o.NoIndent, "noindent", false, "json output on one line")
}

// Column is one output column.
type Column struct {
	Name string
	// Human renders a value for table output; nil means Human.
	Human func(v any) string
}

// Col is a column rendered by Human.
func Col(name string) Column { return Column{Name: name} }

// select returns the indexes of the columns to print.
func (o Options) selectCols(cols []Column) ([]int, error) {
	var idx []int
	for i, c := range cols {
		if len(o.Columns) == 0 || slices.Contains(o.Columns, c.Name) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		names := make([]string, len(cols))
		for i, c := range cols {
			names[i] = c.Name
		}
		return nil, fmt.Errorf("no recognized column names in %s; recognized columns are %s",
			strings.Join(o.Columns, ", "), strings.Join(names, ", "))
	}
	return idx, nil
}

func (o Options) format() (string, error) {
	f := strings.ToLower(o.Format)
	if f == "" {
		f = "table"
	}
	if !slices.Contains(Formats, f) {
		return "", fmt.Errorf("unknown output format %q (%s)", o.Format, strings.Join(Formats, ", "))
	}
	return f, nil
}

// Check validates the options before a command does anything.
func (o Options) Check() error {
	_, err := o.format()
	return err
}

// List writes rows, each a value per column.
func List(w io.Writer, o Options, cols []Column, rows [][]any) error {
	f, err := o.format()
	if err != nil {
		return err
	}
	idx, err := o.selectCols(cols)
	if err != nil {
		return err
	}
	switch f {
	case "json":
		var b bytes.Buffer
		b.WriteByte('[')
		for i, r := range rows {
			if i > 0 {
				b.WriteByte(',')
			}
			writeObject(&b, cols, idx, r)
		}
		b.WriteByte(']')
		return writeJSON(w, b.Bytes(), o.NoIndent)
	case "yaml":
		out := make([]map[string]any, 0, len(rows))
		for _, r := range rows {
			m := map[string]any{}
			for _, i := range idx {
				m[cols[i].Name] = yamlValue(r[i])
			}
			out = append(out, m)
		}
		return writeYAML(w, out)
	case "value":
		var b strings.Builder
		for _, r := range rows {
			for n, i := range idx {
				if n > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(Python(r[i]))
			}
			b.WriteByte('\n')
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	headers := make([]string, len(idx))
	right := make([]bool, len(idx))
	for n, i := range idx {
		headers[n] = cols[i].Name
		_, right[n] = rows[0][i].(json.Number)
	}
	cells := make([][]string, len(rows))
	for r, row := range rows {
		cells[r] = make([]string, len(idx))
		for n, i := range idx {
			cells[r][n] = cols[i].human(row[i])
		}
	}
	_, err = io.WriteString(w, table(headers, cells, right))
	return err
}

// Show writes one resource: values[i] is the value of cols[i].
func Show(w io.Writer, o Options, cols []Column, values []any) error {
	f, err := o.format()
	if err != nil {
		return err
	}
	idx, err := o.selectCols(cols)
	if err != nil {
		return err
	}
	switch f {
	case "json":
		var b bytes.Buffer
		writeObject(&b, cols, idx, values)
		return writeJSON(w, b.Bytes(), o.NoIndent)
	case "yaml":
		m := map[string]any{}
		for _, i := range idx {
			m[cols[i].Name] = yamlValue(values[i])
		}
		return writeYAML(w, m)
	case "value":
		var b strings.Builder
		for _, i := range idx {
			b.WriteString(Python(values[i]))
			b.WriteByte('\n')
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	cells := make([][]string, len(idx))
	for n, i := range idx {
		cells[n] = []string{cols[i].Name, cols[i].human(values[i])}
	}
	_, err = io.WriteString(w, table([]string{"Field", "Value"}, cells, []bool{false, false}))
	return err
}

func (c Column) human(v any) string {
	if c.Human != nil {
		return c.Human(v)
	}
	return Human(v)
}

// writeObject writes one JSON object with the selected columns in order.
func writeObject(b *bytes.Buffer, cols []Column, idx []int, values []any) {
	b.WriteByte('{')
	for n, i := range idx {
		if n > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(cols[i].Name)
		v, err := json.Marshal(values[i])
		if err != nil {
			v, _ = json.Marshal(fmt.Sprint(values[i]))
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
}

func writeJSON(w io.Writer, compact []byte, noIndent bool) error {
	var out bytes.Buffer
	if noIndent {
		out.Write(compact)
	} else if err := json.Indent(&out, compact, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

func writeYAML(w io.Writer, v any) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return enc.Close()
}

// yamlValue turns json.Numbers into ints or floats so that yaml prints
// them as numbers.
func yamlValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = yamlValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = yamlValue(e)
		}
		return out
	}
	return v
}

// Human renders a value as the openstack CLI's table does: None, True and
// False; lists of scalars sorted and joined by ", "; lists of objects one
// object per line; objects as key='value' pairs sorted by key.
func Human(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case json.Number:
		return x.String()
	case map[string]any:
		return FormatDict(x)
	case []any:
		if len(x) > 0 {
			if _, ok := x[0].(map[string]any); ok {
				lines := make([]string, len(x))
				for i, e := range x {
					lines[i] = Human(e)
				}
				return strings.Join(lines, "\n")
			}
		}
		items := make([]string, len(x))
		for i, e := range x {
			items[i] = Human(e)
		}
		sort.Strings(items)
		return strings.Join(items, ", ")
	}
	return fmt.Sprint(v)
}

// FormatDict renders an object as osc-lib's format_dict: key='value'
// pairs sorted by key, nested objects flattened with dotted keys.
func FormatDict(m map[string]any) string {
	return strings.Join(dictPairs("", m), ", ")
}

func dictPairs(prefix string, m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		switch x := m[k].(type) {
		case map[string]any:
			out = append(out, dictPairs(key, x)...)
		case nil:
			out = append(out, key+"=")
		default:
			out = append(out, key+"='"+Python(x)+"'")
		}
	}
	return out
}

// Python renders a value as Python's str() of its decoded JSON: None,
// True, False, ['a', 'b'], {'k': 'v'}. The value format prints this.
func Python(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	}
	return pyRepr(v)
}

func pyRepr(v any) string {
	switch x := v.(type) {
	case nil, bool:
		return Python(x)
	case string:
		q := strings.ReplaceAll(x, `\`, `\\`)
		if strings.Contains(x, "'") && !strings.Contains(x, `"`) {
			return `"` + q + `"`
		}
		return "'" + strings.ReplaceAll(q, "'", `\'`) + "'"
	case json.Number:
		return x.String()
	case []any:
		items := make([]string, len(x))
		for i, e := range x {
			items[i] = pyRepr(e)
		}
		return "[" + strings.Join(items, ", ") + "]"
	case map[string]any:
		// Python keeps the server's key order; Go's decoding lost it: sort.
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		items := make([]string, len(keys))
		for i, k := range keys {
			items[i] = pyRepr(k) + ": " + pyRepr(x[k])
		}
		return "{" + strings.Join(items, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// table draws a prettytable-style box: left-aligned columns (right for
// numbers), multi-line cells, a separator under the header.
func table(headers []string, rows [][]string, right []bool) string {
	width := make([]int, len(headers))
	for i, h := range headers {
		width[i] = utf8.RuneCountInString(h)
	}
	split := make([][][]string, len(rows))
	for r, row := range rows {
		split[r] = make([][]string, len(row))
		for i, cell := range row {
			lines := strings.Split(strings.ReplaceAll(cell, "\r\n", "\n"), "\n")
			split[r][i] = lines
			for _, l := range lines {
				width[i] = max(width[i], utf8.RuneCountInString(l))
			}
		}
	}
	var b strings.Builder
	rule := func() {
		b.WriteByte('+')
		for _, wd := range width {
			b.WriteString(strings.Repeat("-", wd+2))
			b.WriteByte('+')
		}
		b.WriteByte('\n')
	}
	line := func(cells []string, right []bool) {
		b.WriteByte('|')
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			b.WriteByte(' ')
			if right != nil && right[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
			b.WriteString(" |")
		}
		b.WriteByte('\n')
	}
	rule()
	line(headers, right)
	rule()
	for _, row := range split {
		n := 0
		for _, lines := range row {
			n = max(n, len(lines))
		}
		for l := 0; l < n; l++ {
			cells := make([]string, len(row))
			for i, lines := range row {
				if l < len(lines) {
					cells[i] = lines[l]
				}
			}
			line(cells, right)
		}
	}
	rule()
	return b.String()
}
