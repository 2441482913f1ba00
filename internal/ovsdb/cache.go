package ovsdb

import (
	"encoding/json"
	"fmt"
	"maps"
	"sync"
)

// Cache is an in-memory replica of monitored tables, kept up to date by the
// client's monitor. It is safe for concurrent use; readers get consistent
// snapshots (every update notification is applied atomically). While the
// client is disconnected the cache keeps its last contents but is not
// Synced; on reconnection they are replaced by the server's.
type Cache struct {
	db      string
	id      string
	columns map[string][]string

	mu      sync.RWMutex
	tables  map[string]map[UUID]Row
	synced  bool
	changed chan struct{}
}

func newCache(db, id string, tables map[string][]string) *Cache {
	c := &Cache{db: db, id: id, columns: map[string][]string{}, tables: map[string]map[UUID]Row{}, changed: make(chan struct{}, 1)}
	for t, cols := range tables {
		c.columns[t] = append([]string(nil), cols...)
		c.tables[t] = map[UUID]Row{}
	}
	return c
}

// Snapshot returns a consistent copy of the given tables (all monitored
// tables when none are given). Tables not monitored are absent.
func (c *Cache) Snapshot(tables ...string) Snapshot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(Snapshot, len(c.tables))
	if len(tables) == 0 {
		for t, rows := range c.tables {
			out[t] = maps.Clone(rows)
		}
		return out
	}
	for _, t := range tables {
		if rows, ok := c.tables[t]; ok {
			out[t] = maps.Clone(rows)
		}
	}
	return out
}

// Row returns one row of table.
func (c *Cache) Row(table string, id UUID) (Row, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.tables[table][id]
	return r, ok
}

// Len returns the number of rows in table.
func (c *Cache) Len(table string) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.tables[table])
}

// Synced reports whether the cache holds the current connection's contents
// (false while disconnected).
func (c *Cache) Synced() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.synced
}

// Changed returns a channel that receives (coalesced: capacity one) after
// every update applied to the cache, including a resync on reconnection
// and the loss of the connection.
func (c *Cache) Changed() <-chan struct{} { return c.changed }

func (c *Cache) signal() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *Cache) unsync() {
	c.mu.Lock()
	c.synced = false
	c.mu.Unlock()
	c.signal()
}

// reset replaces the contents with a monitor reply's initial rows.
func (c *Cache) reset(schema *Schema, result json.RawMessage) error {
	fresh := make(map[string]map[UUID]Row, len(c.columns))
	for t := range c.columns {
		fresh[t] = map[UUID]Row{}
	}
	if err := applyUpdates(schema, fresh, result); err != nil {
		return err
	}
	c.mu.Lock()
	c.tables = fresh
	c.synced = true
	c.mu.Unlock()
	c.signal()
	return nil
}

// update applies an "update" notification's table-updates.
func (c *Cache) update(schema *Schema, raw json.RawMessage) error {
	c.mu.Lock()
	err := applyUpdates(schema, c.tables, raw)
	c.mu.Unlock()
	c.signal()
	return err
}

// applyUpdates applies <table-updates> (RFC 7047 4.1.6) to tables: a row
// update without "new" deletes the row; otherwise "new"'s columns are laid
// over the row's (which are a full row for an insert or initial row). Rows
// are replaced, never modified, so snapshots stay valid.
func applyUpdates(schema *Schema, tables map[string]map[UUID]Row, raw json.RawMessage) error {
	w, err := decodeJSON(raw)
	if err != nil {
		return fmt.Errorf("ovsdb: update: %w", err)
	}
	if w == nil {
		return nil
	}
	tus, ok := w.(map[string]any)
	if !ok {
		return fmt.Errorf("ovsdb: update: not an object")
	}
	for t, tu := range tus {
		rows, ok := tables[t]
		if !ok {
			continue
		}
		ts := schema.Table(t)
		if ts == nil {
			return fmt.Errorf("ovsdb: update: unknown table %q", t)
		}
		rus, ok := tu.(map[string]any)
		if !ok {
			return fmt.Errorf("ovsdb: update of %s: not an object", t)
		}
		for id, ru := range rus {
			obj, ok := ru.(map[string]any)
			if !ok {
				return fmt.Errorf("ovsdb: update of %s %s: not an object", t, id)
			}
			nw, ok := obj["new"]
			if !ok {
				delete(rows, UUID(id))
				continue
			}
			dec, err := decodeRow(ts, nw)
			if err != nil {
				return fmt.Errorf("ovsdb: update of %s %s: %w", t, id, err)
			}
			row := make(Row, len(dec)+1)
			maps.Copy(row, rows[UUID(id)])
			maps.Copy(row, dec)
			row["_uuid"] = UUID(id)
			rows[UUID(id)] = row
		}
	}
	return nil
}
