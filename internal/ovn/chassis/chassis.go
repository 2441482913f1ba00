// Package chassis tells which hosts run ovn-controller, from the Chassis
// table of OVN's southbound database, so that ports bind only where OVN
// can plug them (as Neutron's OVN driver binds only to hosts with an OVN
// controller agent).
package chassis

import (
	"context"
	"fmt"

	"github.com/spinel-net/spinel/internal/ovsdb"
)

// Database and table of the southbound schema.
const (
	Database = "OVN_Southbound"
	Table    = "Chassis"
)

// Hosts is a live view of the southbound Chassis table.
type Hosts struct{ cache *ovsdb.Cache }

// Watch starts monitoring the chassis on sb. If sb is not connected yet it
// returns at once and the view fills on connection.
func Watch(ctx context.Context, sb *ovsdb.Client) (*Hosts, error) {
	c, err := sb.Monitor(ctx, Database, map[string][]string{Table: {"name", "hostname"}})
	if err != nil {
		return nil, fmt.Errorf("chassis: %w", err)
	}
	return &Hosts{cache: c}, nil
}

// Has reports whether a chassis has host as its hostname or name. While
// the southbound database is unreachable it answers from the last known
// chassis.
func (h *Hosts) Has(host string) bool {
	if host == "" {
		return false
	}
	for _, row := range h.cache.Snapshot(Table)[Table] {
		if row["hostname"] == host || row["name"] == host {
			return true
		}
	}
	return false
}
