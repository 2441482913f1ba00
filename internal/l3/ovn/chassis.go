package ovn

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxPriority is the highest Gateway_Chassis priority OVN accepts.
const MaxPriority = 32767

// GatewayChassis is one chassis a router's gateway port may be scheduled
// to. OVN makes the port active on the highest-priority chassis that is
// alive and fails over to the next.
type GatewayChassis struct {
	Name     string // the chassis' system-id (its Chassis row's name in the southbound database)
	Priority int
}

// ParseGatewayChassis parses "name[:priority]" entries, as given to
// --ovn-gateway-chassis. An entry without a priority gets one below
// every earlier entry (the first gets len(entries)), so "gw1,gw2,gw3"
// means gw1 first, then gw2, then gw3. Names must be unique, and
// priorities within 0..32767 and unique, so that failover is
// deterministic.
func ParseGatewayChassis(entries []string) ([]GatewayChassis, error) {
	var out []GatewayChassis
	names, prios := map[string]bool{}, map[int]bool{}
	for i, e := range entries {
		e = strings.TrimSpace(e)
		name, prio, hasPrio := strings.Cut(e, ":")
		if name == "" || strings.ContainsAny(name, " \t,") {
			return nil, fmt.Errorf("gateway chassis %q: want name[:priority]", e)
		}
		p := len(entries) - i
		if hasPrio {
			n, err := strconv.Atoi(prio)
			if err != nil || n < 0 || n > MaxPriority {
				return nil, fmt.Errorf("gateway chassis %q: the priority must be an integer from 0 to %d", e, MaxPriority)
			}
			p = n
		}
		if names[name] {
			return nil, fmt.Errorf("gateway chassis %q: listed twice", name)
		}
		if prios[p] {
			return nil, fmt.Errorf("gateway chassis %q: priority %d is already another chassis'", name, p)
		}
		names[name], prios[p] = true, true
		out = append(out, GatewayChassis{Name: name, Priority: p})
	}
	return out, nil
}
