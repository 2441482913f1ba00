package ovsdb

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Schema is a database schema (RFC 7047 3.2).
type Schema struct {
	Name    string
	Version string
	Tables  map[string]*TableSchema
}

// TableSchema is one table of a schema.
type TableSchema struct {
	Columns map[string]*ColumnSchema
	Indexes [][]string
	IsRoot  bool
}

// ColumnSchema is one column of a table.
type ColumnSchema struct {
	Type      ColumnType
	Ephemeral bool
	Mutable   bool
}

// ColumnType is a column's type: a set of Min to Max keys (Max -1 is
// unlimited), or a map when Value is set.
type ColumnType struct {
	Key   BaseType
	Value *BaseType
	Min   int
	Max   int
}

// IsMap reports whether the column is a map.
func (t ColumnType) IsMap() bool { return t.Value != nil }

// IsScalar reports whether the column holds exactly one atom.
func (t ColumnType) IsScalar() bool { return t.Value == nil && t.Min == 1 && t.Max == 1 }

// AtomicType is one of OVSDB's atomic types.
type AtomicType string

// The atomic types.
const (
	TypeInteger AtomicType = "integer"
	TypeReal    AtomicType = "real"
	TypeBoolean AtomicType = "boolean"
	TypeString  AtomicType = "string"
	TypeUUID    AtomicType = "uuid"
)

// BaseType is the type of a key or value: an atomic type with its
// constraints.
type BaseType struct {
	Type     AtomicType
	Enum     []any  // allowed values, nil for any
	RefTable string // for uuid: the referenced table
	RefType  string // for uuid: "strong" or "weak"
}

// Table returns the schema of table, or nil.
func (s *Schema) Table(table string) *TableSchema {
	if s == nil {
		return nil
	}
	return s.Tables[table]
}

// uuidColumn is the type of the implicit columns _uuid and _version.
var uuidColumn = &ColumnSchema{Type: ColumnType{Key: BaseType{Type: TypeUUID}, Min: 1, Max: 1}}

// Column returns the schema of column (including the implicit _uuid and
// _version), or nil.
func (t *TableSchema) Column(column string) *ColumnSchema {
	if column == "_uuid" || column == "_version" {
		return uuidColumn
	}
	if t == nil {
		return nil
	}
	return t.Columns[column]
}

// ParseSchema decodes a schema in its JSON form (RFC 7047 3.2), as returned
// by get_schema or found in an .ovsschema file.
func ParseSchema(data []byte) (*Schema, error) {
	var raw struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Tables  map[string]struct {
			Columns map[string]struct {
				Type      json.RawMessage `json:"type"`
				Ephemeral bool            `json:"ephemeral"`
				Mutable   *bool           `json:"mutable"`
			} `json:"columns"`
			Indexes [][]string `json:"indexes"`
			IsRoot  bool       `json:"isRoot"`
		} `json:"tables"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("ovsdb: schema: %w", err)
	}
	if raw.Name == "" {
		return nil, errors.New("ovsdb: schema: no name")
	}
	s := &Schema{Name: raw.Name, Version: raw.Version, Tables: make(map[string]*TableSchema, len(raw.Tables))}
	for tn, rt := range raw.Tables {
		ts := &TableSchema{Columns: make(map[string]*ColumnSchema, len(rt.Columns)), Indexes: rt.Indexes, IsRoot: rt.IsRoot}
		for cn, rc := range rt.Columns {
			ct, err := parseColumnType(rc.Type)
			if err != nil {
				return nil, fmt.Errorf("ovsdb: schema %s: column %s.%s: %w", raw.Name, tn, cn, err)
			}
			mutable := rc.Mutable == nil || *rc.Mutable
			ts.Columns[cn] = &ColumnSchema{Type: ct, Ephemeral: rc.Ephemeral, Mutable: mutable}
		}
		s.Tables[tn] = ts
	}
	return s, nil
}

func parseColumnType(data json.RawMessage) (ColumnType, error) {
	var atomic string
	if json.Unmarshal(data, &atomic) == nil {
		bt, err := parseBaseType(data)
		return ColumnType{Key: bt, Min: 1, Max: 1}, err
	}
	var raw struct {
		Key   json.RawMessage `json:"key"`
		Value json.RawMessage `json:"value"`
		Min   *int            `json:"min"`
		Max   json.RawMessage `json:"max"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return ColumnType{}, err
	}
	if raw.Key == nil {
		return ColumnType{}, errors.New("type without key")
	}
	ct := ColumnType{Min: 1, Max: 1}
	var err error
	if ct.Key, err = parseBaseType(raw.Key); err != nil {
		return ct, err
	}
	if raw.Value != nil {
		v, err := parseBaseType(raw.Value)
		if err != nil {
			return ct, err
		}
		ct.Value = &v
	}
	if raw.Min != nil {
		ct.Min = *raw.Min
	}
	if raw.Max != nil {
		var s string
		if json.Unmarshal(raw.Max, &s) == nil {
			if s != "unlimited" {
				return ct, fmt.Errorf("bad max %q", s)
			}
			ct.Max = -1
		} else if err := json.Unmarshal(raw.Max, &ct.Max); err != nil {
			return ct, fmt.Errorf("bad max: %w", err)
		}
	}
	return ct, nil
}

func parseBaseType(data json.RawMessage) (BaseType, error) {
	var atomic string
	if json.Unmarshal(data, &atomic) == nil {
		return BaseType{Type: AtomicType(atomic)}, checkAtomic(AtomicType(atomic))
	}
	var raw struct {
		Type     string          `json:"type"`
		Enum     json.RawMessage `json:"enum"`
		RefTable string          `json:"refTable"`
		RefType  string          `json:"refType"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return BaseType{}, err
	}
	bt := BaseType{Type: AtomicType(raw.Type), RefTable: raw.RefTable, RefType: raw.RefType}
	if err := checkAtomic(bt.Type); err != nil {
		return bt, err
	}
	if bt.RefTable != "" && bt.RefType == "" {
		bt.RefType = "strong"
	}
	if raw.Enum != nil {
		v, err := decodeJSON(raw.Enum)
		if err != nil {
			return bt, fmt.Errorf("enum: %w", err)
		}
		set, err := decodeValue(ColumnType{Key: bt, Min: 0, Max: -1}, v)
		if err != nil {
			return bt, fmt.Errorf("enum: %w", err)
		}
		bt.Enum = set.(Set)
	}
	return bt, nil
}

func checkAtomic(t AtomicType) error {
	switch t {
	case TypeInteger, TypeReal, TypeBoolean, TypeString, TypeUUID:
		return nil
	}
	return fmt.Errorf("unknown atomic type %q", t)
}
