package ovsdb

// Cache is an in-memory replica of monitored tables, kept up to date by the
// client's monitor. It is safe for concurrent use; readers get consistent
// snapshots (every update notification is applied atomically).
type Cache struct{}

// Snapshot returns a consistent copy of the given tables (all monitored
// tables when none are given).
func (c *Cache) Snapshot(tables ...string) Snapshot { panic("unimplemented") }

// Row returns one row of table.
func (c *Cache) Row(table string, id UUID) (Row, bool) { panic("unimplemented") }

// Len returns the number of rows in table.
func (c *Cache) Len(table string) int { panic("unimplemented") }

// Synced reports whether the cache holds the current connection's initial
// contents (false while disconnected).
func (c *Cache) Synced() bool { panic("unimplemented") }

// Changed returns a channel that receives (coalesced: capacity one) after
// every update applied to the cache, including a resync on reconnection.
func (c *Cache) Changed() <-chan struct{} { panic("unimplemented") }
