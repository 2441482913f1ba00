package ovsdb

import (
	"fmt"
	"reflect"
)

// encodeOp converts op to its wire form with schema.
func encodeOp(schema *Schema, op Operation) (map[string]any, error) {
	out := map[string]any{"op": op.Op}
	if op.Op == "comment" {
		out["comment"] = op.Comment
		return out, nil
	}
	if op.Op == "abort" {
		return out, nil
	}
	ts := schema.Table(op.Table)
	if ts == nil {
		return nil, fmt.Errorf("unknown table %q in database %s", op.Table, schema.Name)
	}
	out["table"] = op.Table
	where := func() error {
		w, err := encodeWhere(ts, op.Where)
		out["where"] = w
		return err
	}
	switch op.Op {
	case "insert":
		row, err := encodeRow(ts, op.Row)
		if err != nil {
			return nil, err
		}
		out["row"] = row
		if op.UUIDName != "" {
			if !namedUUIDRE.MatchString(op.UUIDName) {
				return nil, fmt.Errorf("invalid uuid-name %q", op.UUIDName)
			}
			out["uuid-name"] = op.UUIDName
		}
	case "update":
		if err := where(); err != nil {
			return nil, err
		}
		row, err := encodeRow(ts, op.Row)
		if err != nil {
			return nil, err
		}
		out["row"] = row
	case "mutate":
		if err := where(); err != nil {
			return nil, err
		}
		muts := make([]any, 0, len(op.Mutations))
		for _, m := range op.Mutations {
			w, err := encodeMutation(ts, m)
			if err != nil {
				return nil, err
			}
			muts = append(muts, w)
		}
		out["mutations"] = muts
	case "delete":
		if err := where(); err != nil {
			return nil, err
		}
	case "select":
		if err := where(); err != nil {
			return nil, err
		}
		if len(op.Columns) > 0 {
			if err := checkColumns(ts, op.Columns); err != nil {
				return nil, err
			}
			out["columns"] = op.Columns
		}
	case "wait":
		if err := where(); err != nil {
			return nil, err
		}
		if err := checkColumns(ts, op.Columns); err != nil {
			return nil, err
		}
		cols := op.Columns
		if cols == nil {
			cols = []string{}
		}
		out["columns"] = cols
		if op.Until != "==" && op.Until != "!=" {
			return nil, fmt.Errorf("wait: until must be == or !=, not %q", op.Until)
		}
		out["until"] = op.Until
		rows := make([]any, 0, len(op.Rows))
		for _, r := range op.Rows {
			w, err := encodeRow(ts, r)
			if err != nil {
				return nil, err
			}
			rows = append(rows, w)
		}
		out["rows"] = rows
		if op.Timeout != nil {
			out["timeout"] = op.Timeout.Milliseconds()
		}
	default:
		return nil, fmt.Errorf("unknown operation %q", op.Op)
	}
	return out, nil
}

func checkColumns(ts *TableSchema, cols []string) error {
	for _, c := range cols {
		if ts.Column(c) == nil {
			return fmt.Errorf("unknown column %q", c)
		}
	}
	return nil
}

func encodeWhere(ts *TableSchema, where []Condition) ([]any, error) {
	out := make([]any, 0, len(where))
	for _, c := range where {
		cs := ts.Column(c.Column)
		if cs == nil {
			return nil, fmt.Errorf("where: unknown column %q", c.Column)
		}
		switch c.Function {
		case "==", "!=", "includes", "excludes", "<", "<=", ">", ">=":
		default:
			return nil, fmt.Errorf("where: unknown function %q", c.Function)
		}
		ct := cs.Type
		if !ct.IsMap() && !ct.IsScalar() && ct.Max == 1 {
			// An optional column compared with a plain atom.
			ct.Min = 0
		}
		v, err := encodeValue(ct, c.Value)
		if err != nil {
			return nil, fmt.Errorf("where %s %s: %w", c.Column, c.Function, err)
		}
		out = append(out, []any{c.Column, c.Function, v})
	}
	return out, nil
}

func encodeMutation(ts *TableSchema, m Mutation) (any, error) {
	cs := ts.Column(m.Column)
	if cs == nil {
		return nil, fmt.Errorf("mutate: unknown column %q", m.Column)
	}
	ct := cs.Type
	var vt ColumnType
	switch m.Mutator {
	case "+=", "-=", "*=", "/=", "%=":
		// Scalar arithmetic, also applied to each element of a set.
		vt = ColumnType{Key: ct.Key, Min: 1, Max: 1}
	case "insert":
		vt = ColumnType{Key: ct.Key, Value: ct.Value, Min: 0, Max: -1}
	case "delete":
		vt = ColumnType{Key: ct.Key, Value: ct.Value, Min: 0, Max: -1}
		if ct.IsMap() && !isMapValue(m.Value) {
			// Deleting keys from a map: a set of keys.
			vt.Value = nil
		}
	default:
		return nil, fmt.Errorf("mutate: unknown mutator %q", m.Mutator)
	}
	v, err := encodeValue(vt, m.Value)
	if err != nil {
		return nil, fmt.Errorf("mutate %s %s: %w", m.Column, m.Mutator, err)
	}
	return []any{m.Column, m.Mutator, v}, nil
}

func isMapValue(v any) bool {
	if _, ok := v.(Map); ok {
		return true
	}
	return v != nil && reflect.ValueOf(v).Kind() == reflect.Map
}
