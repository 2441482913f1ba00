package ovsdb

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
