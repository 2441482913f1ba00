// Package ovsdb is a small, schema-driven OVSDB client (RFC 7047): JSON-RPC
// over a unix socket or TCP, with transact, monitor, echo and reconnection.
//
// A Client connects in the background and keeps reconnecting with capped,
// jittered exponential backoff. On every (re)connection it fetches the
// schemas of the databases it uses, re-establishes every monitor (replacing
// each Cache's contents with the server's current rows) and only then calls
// the OnConnect hooks, so a consumer that resyncs from an OnConnect hook sees
// a fresh cache.
//
// Values are plain Go values, encoded and decoded with the database schema:
//
//   - atoms are string, int (any integer kind on input), float64, bool and
//     UUID; in a uuid column a plain string that is a valid UUID is a UUID
//     and any other string is a NamedUUID (a row inserted in the same
//     transaction), so typed rows can use string and []string for
//     references;
//   - a set column accepts a single atom, any slice or array of atoms, a
//     Set, or a pointer (nil is the empty set); it is decoded as Set unless
//     the column holds exactly one value (min = max = 1), which decodes as
//     the atom;
//   - a map column accepts any Go map, or a Map; it decodes as Map.
//
// Typed rows are Go structs whose fields carry `ovsdb:"column"` tags;
// Marshal and Unmarshal convert between them and Row (see typed.go).
//
// Transactions are never queued: while disconnected, Transact fails at once
// with ErrNotConnected, so a caller can report the backend as unreachable.
package ovsdb

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// UUID is a row's permanent id (the wire form is ["uuid", "..."]).
type UUID string

// NamedUUID names a row inserted earlier in the same transaction (the wire
// form is ["named-uuid", "..."]); the server replaces it by the row's UUID.
type NamedUUID string

// Set is an OVSDB set of atoms, in the server's order.
type Set []any

// Map is an OVSDB map of atoms to atoms.
type Map map[any]any

// Row is a table row as column name to value (see the package comment for
// the Go types). The server's "_uuid" column is present in rows read from a
// Cache or a select, decoded as UUID. Rows handed out by a Cache are shared:
// treat them as read-only.
type Row map[string]any

// UUIDOf returns the row's "_uuid", or "" if it has none.
func (r Row) UUIDOf() UUID { u, _ := r["_uuid"].(UUID); return u }

// Condition is one clause of a "where" (RFC 7047 5.1): Column Function
// Value, for example Equal("name", "sw0").
type Condition struct {
	Column   string
	Function string // ==, !=, <, <=, >, >=, includes, excludes
	Value    any
}

// Where returns the condition "column function value".
func Where(column, function string, value any) Condition {
	return Condition{Column: column, Function: function, Value: value}
}

// Equal returns the condition column == value.
func Equal(column string, value any) Condition { return Where(column, "==", value) }

// Includes returns the condition "column includes value" (for sets and
// maps: value is a subset of the column).
func Includes(column string, value any) Condition { return Where(column, "includes", value) }

// ByUUID returns the condition _uuid == id.
func ByUUID(id UUID) Condition { return Equal("_uuid", id) }

// Mutation is one mutation of a "mutate" operation (RFC 7047 5.1).
type Mutation struct {
	Column  string
	Mutator string // +=, -=, *=, /=, %=, insert, delete
	Value   any
}

// InsertInto returns a mutation adding value's elements (or map entries) to
// a set or map column.
func InsertInto(column string, value any) Mutation {
	return Mutation{Column: column, Mutator: "insert", Value: value}
}

// DeleteFrom returns a mutation removing value's elements from a set column,
// or from a map column the entries with value's keys (a slice or Set of
// keys) or exactly value's key/value pairs (a map).
func DeleteFrom(column string, value any) Mutation {
	return Mutation{Column: column, Mutator: "delete", Value: value}
}

// Operation is one operation of a transaction (RFC 7047 5.2). Build it with
// Insert, Update, Mutate, Delete, Select, Wait or Comment.
type Operation struct {
	Op        string
	Table     string
	Row       Row
	UUIDName  string
	Where     []Condition
	Mutations []Mutation
	Columns   []string
	Rows      []Row
	Until     string
	Timeout   *time.Duration
	Comment   string
}

// Insert adds row to table. A non-empty uuidName lets later operations of
// the same transaction refer to the new row as NamedUUID(uuidName).
func Insert(table string, row Row, uuidName string) Operation {
	return Operation{Op: "insert", Table: table, Row: row, UUIDName: uuidName}
}

// Update sets row's columns in every row of table matching where.
func Update(table string, where []Condition, row Row) Operation {
	return Operation{Op: "update", Table: table, Where: where, Row: row}
}

// Mutate applies mutations to every row of table matching where.
func Mutate(table string, where []Condition, mutations ...Mutation) Operation {
	return Operation{Op: "mutate", Table: table, Where: where, Mutations: mutations}
}

// Delete removes every row of table matching where.
func Delete(table string, where ...Condition) Operation {
	return Operation{Op: "delete", Table: table, Where: where}
}

// Select reads columns (all when none are given) of the rows of table
// matching where.
func Select(table string, where []Condition, columns ...string) Operation {
	return Operation{Op: "select", Table: table, Where: where, Columns: columns}
}

// Wait makes the transaction wait (up to timeout; 0 means fail at once) until
// the rows of table matching where, projected on columns, are (until "==")
// or are not (until "!=") exactly rows.
func Wait(table string, timeout time.Duration, where []Condition, columns []string, until string, rows []Row) Operation {
	return Operation{Op: "wait", Table: table, Timeout: &timeout, Where: where, Columns: columns, Until: until, Rows: rows}
}

// Comment adds text to the database log.
func Comment(text string) Operation { return Operation{Op: "comment", Comment: text} }

// OpResult is the result of one operation.
type OpResult struct {
	Count   int   // rows updated, mutated or deleted
	UUID    UUID  // the inserted row
	Rows    []Row // the selected rows
	Error   string
	Details string
}

// Options tune a Client. The zero value is usable.
type Options struct {
	// Logger receives connection events (default slog.Default()).
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the jittered exponential delay
	// between connection attempts (defaults 100 ms and 5 s).
	MinBackoff, MaxBackoff time.Duration
	// InactivityProbe is how long a connection may stay silent before the
	// client sends an echo; a connection silent for twice as long is
	// dropped and re-established (default 5 s; negative disables).
	InactivityProbe time.Duration
	// DialTimeout bounds one connection attempt (default 5 s).
	DialTimeout time.Duration
}

// Errors returned by the client.
var (
	// ErrNotConnected: the client has no connection right now; it is
	// reconnecting in the background.
	ErrNotConnected = errors.New("ovsdb: not connected")
	// ErrClosed: Close was called.
	ErrClosed = errors.New("ovsdb: client closed")
)

// TxnError is a transaction the server refused: Index is the failing
// operation (len(ops) for a failure of the commit itself, such as a
// constraint violation), Err and Details are the server's.
type TxnError struct {
	Index   int
	Op      string
	Err     string
	Details string
}

func (e *TxnError) Error() string {
	if e.Op == "" {
		return fmt.Sprintf("ovsdb: transaction failed: %s: %s", e.Err, e.Details)
	}
	return fmt.Sprintf("ovsdb: operation %d (%s) failed: %s: %s", e.Index, e.Op, e.Err, e.Details)
}

// RPCError is an error reply to a JSON-RPC request other than transact's
// per-operation errors (unknown database, malformed request...).
type RPCError struct {
	Method string
	Err    string
	Detail string
}

func (e *RPCError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("ovsdb: %s: %s", e.Method, e.Err)
	}
	return fmt.Sprintf("ovsdb: %s: %s: %s", e.Method, e.Err, e.Detail)
}

// Snapshot is a consistent copy of a Cache's tables: table name → row UUID →
// row. The rows are shared with the cache and must not be modified.
type Snapshot map[string]map[UUID]Row
