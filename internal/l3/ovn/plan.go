package ovn

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spinel-net/spinel/internal/ovsdb"
)

// The northbound tables the driver writes.
const (
	nbDB    = "OVN_Northbound"
	tLR     = "Logical_Router"
	tLRP    = "Logical_Router_Port"
	tGC     = "Gateway_Chassis"
	tNAT    = "NAT"
	tRoute  = "Logical_Router_Static_Route"
	cPorts  = "ports"
	cNAT    = "nat"
	cRoutes = "static_routes"
	cGC     = "gateway_chassis"
)

// monitored are the tables and columns the driver replicates.
var monitored = map[string][]string{
	tLR:    {"name", "enabled", "external_ids", "options", cPorts, cNAT, cRoutes},
	tLRP:   {"name", "mac", "networks", "options", "ipv6_ra_configs", "external_ids", cGC},
	tGC:    {"name", "chassis_name", "priority", "external_ids"},
	tNAT:   {"type", "external_ip", "logical_ip", "logical_port", "external_mac", "external_ids"},
	tRoute: {"ip_prefix", "nexthop", "external_ids"},
}

// rowReader reads rows of the replica by UUID.
type rowReader interface {
	Row(table string, id ovsdb.UUID) (ovsdb.Row, bool)
}

// planner accumulates the operations of one router's transaction.
type planner struct {
	rd  rowReader
	ops []ovsdb.Operation
	n   int // named-uuid counter
}

func (p *planner) name(prefix string) ovsdb.NamedUUID {
	p.n++
	return ovsdb.NamedUUID(fmt.Sprintf("%s%d", prefix, p.n))
}

// child is one owned child row of the router: its UUID and row.
type child struct {
	id  ovsdb.UUID
	row ovsdb.Row
}

// ownedChildren returns the owned rows among refs, grouped by key. Rows
// this driver does not own are not returned and so never touched.
func (p *planner) ownedChildren(table string, refs []ovsdb.UUID, key func(ovsdb.Row) string) map[string][]child {
	out := map[string][]child{}
	for _, id := range refs {
		row, ok := p.rd.Row(table, id)
		if !ok || !isOwned(row) {
			continue
		}
		k := key(row)
		out[k] = append(out[k], child{id, row})
	}
	return out
}

func natKeyOf(r ovsdb.Row) string {
	return strOf(r["type"]) + "|" + strOf(r["external_ip"]) + "|" + strOf(r["logical_ip"])
}

func routeKeyOf(r ovsdb.Row) string { return strOf(r["ip_prefix"]) + "|" + strOf(r["nexthop"]) }

func nameOf(r ovsdb.Row) string { return strOf(r["name"]) }

// plan returns the operations that make the northbound database hold
// want, given the Logical_Router rows currently named want.Name (from the
// replica), or nil when it already does. The first operation is always a
// wait that fails the transaction if the router's row or its references
// are not what the replica says, so a stale replica never produces a
// duplicate or a lost row.
func plan(want *lrRow, existing []child, rd rowReader) []ovsdb.Operation {
	p := &planner{rd: rd}
	var cur *child
	for i := range existing {
		if isOwned(existing[i].row) {
			cur = &existing[i]
			break
		}
	}
	if cur == nil && len(existing) > 0 {
		cur = &existing[0] // a router of ours by its name: adopt it
	}
	if cur == nil {
		p.createRouter(want)
		return p.ops
	}
	ports, nat, routes := uuidsOf(cur.row[cPorts]), uuidsOf(cur.row[cNAT]), uuidsOf(cur.row[cRoutes])
	p.ops = append(p.ops, ovsdb.Wait(tLR, 0, []ovsdb.Condition{ovsdb.ByUUID(cur.id)}, []string{cPorts, cNAT, cRoutes}, "==",
		[]ovsdb.Row{{cPorts: ports, cNAT: nat, cRoutes: routes}}))
	guard := len(p.ops)
	for i := range existing {
		if &existing[i] != cur && isOwned(existing[i].row) {
			p.ops = append(p.ops, ovsdb.Delete(tLR, ovsdb.ByUUID(existing[i].id))) // a duplicate
		}
	}

	upd := ovsdb.Row{}
	if boolOf(cur.row["enabled"], true) != want.Enabled {
		upd["enabled"] = want.Enabled
	}
	if !sameIDs(strMapOf(cur.row["external_ids"]), want.ExternalIDs) || !isOwned(cur.row) {
		upd["external_ids"] = want.ExternalIDs
	}
	if !sameMap(strMapOf(cur.row["options"]), want.Options) {
		upd["options"] = want.Options
	}
	if len(upd) > 0 {
		p.ops = append(p.ops, ovsdb.Update(tLR, []ovsdb.Condition{ovsdb.ByUUID(cur.id)}, upd))
	}

	var muts []ovsdb.Mutation
	muts = append(muts, p.syncPorts(want.Ports, ports)...)
	muts = append(muts, p.syncNAT(want.NAT, nat)...)
	muts = append(muts, p.syncRoutes(want.Routes, routes)...)
	if len(muts) > 0 {
		p.ops = append(p.ops, ovsdb.Mutate(tLR, []ovsdb.Condition{ovsdb.ByUUID(cur.id)}, muts...))
	}
	if len(p.ops) == guard {
		return nil // nothing to change
	}
	return p.ops
}

// createRouter inserts the router and all its rows, guarded by the router
// name being free.
func (p *planner) createRouter(want *lrRow) {
	p.ops = append(p.ops, ovsdb.Wait(tLR, 0, []ovsdb.Condition{ovsdb.Equal("name", want.Name)}, []string{"name"}, "==", []ovsdb.Row{}))
	var ports, nat, routes []ovsdb.NamedUUID
	for i := range want.Ports {
		ports = append(ports, p.insertPort(&want.Ports[i]))
	}
	for _, n := range want.NAT {
		nat = append(nat, p.insertNAT(n))
	}
	for _, r := range want.Routes {
		routes = append(routes, p.insertRoute(r))
	}
	p.ops = append(p.ops, ovsdb.Insert(tLR, ovsdb.Row{
		"name": want.Name, "enabled": want.Enabled, "external_ids": want.ExternalIDs, "options": want.Options,
		cPorts: namedSet(ports), cNAT: namedSet(nat), cRoutes: namedSet(routes),
	}, "lr"))
}

// namedSet is a set of named UUIDs, never nil (an empty set, not none).
func namedSet(s []ovsdb.NamedUUID) []ovsdb.NamedUUID {
	if s == nil {
		return []ovsdb.NamedUUID{}
	}
	return s
}

func lrpColumns(w *lrpRow) ovsdb.Row {
	return ovsdb.Row{"mac": w.MAC, "networks": w.Networks, "options": w.Options,
		"ipv6_ra_configs": w.IPv6RAConfigs, "external_ids": w.ExternalIDs}
}

func (p *planner) insertPort(w *lrpRow) ovsdb.NamedUUID {
	var gcs []ovsdb.NamedUUID
	for _, g := range w.Chassis {
		gcs = append(gcs, p.insertGC(g))
	}
	row := lrpColumns(w)
	row["name"] = w.Name
	row[cGC] = namedSet(gcs)
	id := p.name("lrp")
	p.ops = append(p.ops, ovsdb.Insert(tLRP, row, string(id)))
	return id
}

func (p *planner) insertGC(g gcRow) ovsdb.NamedUUID {
	id := p.name("gc")
	p.ops = append(p.ops, ovsdb.Insert(tGC, ovsdb.Row{"name": g.Name, "chassis_name": g.ChassisName,
		"priority": g.Priority, "external_ids": g.ExternalIDs}, string(id)))
	return id
}

func natColumns(n natRow) ovsdb.Row {
	row := ovsdb.Row{"type": n.Type, "external_ip": n.ExternalIP, "logical_ip": n.LogicalIP, "external_ids": n.ExternalIDs,
		"logical_port": []string{}, "external_mac": []string{}}
	if n.LogicalPort != "" {
		row["logical_port"] = []string{n.LogicalPort}
	}
	if n.ExternalMAC != "" {
		row["external_mac"] = []string{n.ExternalMAC}
	}
	return row
}

func (p *planner) insertNAT(n natRow) ovsdb.NamedUUID {
	id := p.name("nat")
	p.ops = append(p.ops, ovsdb.Insert(tNAT, natColumns(n), string(id)))
	return id
}

func (p *planner) insertRoute(r routeRow) ovsdb.NamedUUID {
	id := p.name("rt")
	p.ops = append(p.ops, ovsdb.Insert(tRoute, ovsdb.Row{"ip_prefix": r.IPPrefix, "nexthop": r.Nexthop,
		"external_ids": r.ExternalIDs}, string(id)))
	return id
}

// setChanges is the insert/delete mutation pair of a reference column.
func setChanges(column string, add []ovsdb.NamedUUID, del []ovsdb.UUID) []ovsdb.Mutation {
	var m []ovsdb.Mutation
	if len(del) > 0 {
		m = append(m, ovsdb.DeleteFrom(column, del))
	}
	if len(add) > 0 {
		m = append(m, ovsdb.InsertInto(column, add))
	}
	return m
}

// pick returns the row to keep among rows of one key and adds the others
// (duplicates) to del.
func pick(rows []child, del *[]ovsdb.UUID) (child, bool) {
	if len(rows) == 0 {
		return child{}, false
	}
	slices.SortFunc(rows, func(a, b child) int { return strings.Compare(string(a.id), string(b.id)) })
	for _, r := range rows[1:] {
		*del = append(*del, r.id)
	}
	return rows[0], true
}

// leftovers adds the ids of rows whose key is not wanted to del.
func leftovers(cur map[string][]child, wanted map[string]bool, del *[]ovsdb.UUID) {
	keys := make([]string, 0, len(cur))
	for k := range cur {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !wanted[k] {
			for _, c := range cur[k] {
				*del = append(*del, c.id)
			}
		}
	}
}

func (p *planner) syncPorts(want []lrpRow, refs []ovsdb.UUID) []ovsdb.Mutation {
	cur := p.ownedChildren(tLRP, refs, nameOf)
	var add []ovsdb.NamedUUID
	var del []ovsdb.UUID
	wanted := map[string]bool{}
	for i := range want {
		w := &want[i]
		wanted[w.Name] = true
		c, ok := pick(cur[w.Name], &del)
		if !ok {
			add = append(add, p.insertPort(w))
			continue
		}
		upd := ovsdb.Row{}
		if strOf(c.row["mac"]) != w.MAC {
			upd["mac"] = w.MAC
		}
		if !slices.Equal(strSetOf(c.row["networks"]), w.Networks) {
			upd["networks"] = w.Networks
		}
		if !sameMap(strMapOf(c.row["options"]), w.Options) {
			upd["options"] = w.Options
		}
		if !sameMap(strMapOf(c.row["ipv6_ra_configs"]), w.IPv6RAConfigs) {
			upd["ipv6_ra_configs"] = w.IPv6RAConfigs
		}
		if !sameIDs(strMapOf(c.row["external_ids"]), w.ExternalIDs) {
			upd["external_ids"] = w.ExternalIDs
		}
		if len(upd) > 0 {
			p.ops = append(p.ops, ovsdb.Update(tLRP, []ovsdb.Condition{ovsdb.ByUUID(c.id)}, upd))
		}
		if m := p.syncChassis(w.Chassis, uuidsOf(c.row[cGC])); len(m) > 0 {
			p.ops = append(p.ops, ovsdb.Mutate(tLRP, []ovsdb.Condition{ovsdb.ByUUID(c.id)}, m...))
		}
	}
	leftovers(cur, wanted, &del)
	return setChanges(cPorts, add, del)
}

func (p *planner) syncChassis(want []gcRow, refs []ovsdb.UUID) []ovsdb.Mutation {
	cur := p.ownedChildren(tGC, refs, nameOf)
	var add []ovsdb.NamedUUID
	var del []ovsdb.UUID
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w.Name] = true
		c, ok := pick(cur[w.Name], &del)
		if !ok {
			add = append(add, p.insertGC(w))
			continue
		}
		upd := ovsdb.Row{}
		if strOf(c.row["chassis_name"]) != w.ChassisName {
			upd["chassis_name"] = w.ChassisName
		}
		if intOf(c.row["priority"]) != w.Priority {
			upd["priority"] = w.Priority
		}
		if !sameMap(strMapOf(c.row["external_ids"]), w.ExternalIDs) {
			upd["external_ids"] = w.ExternalIDs
		}
		if len(upd) > 0 {
			p.ops = append(p.ops, ovsdb.Update(tGC, []ovsdb.Condition{ovsdb.ByUUID(c.id)}, upd))
		}
	}
	leftovers(cur, wanted, &del)
	return setChanges(cGC, add, del)
}

func (p *planner) syncNAT(want []natRow, refs []ovsdb.UUID) []ovsdb.Mutation {
	cur := p.ownedChildren(tNAT, refs, natKeyOf)
	var add []ovsdb.NamedUUID
	var del []ovsdb.UUID
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w.key()] = true
		c, ok := pick(cur[w.key()], &del)
		if !ok {
			add = append(add, p.insertNAT(w))
			continue
		}
		upd := ovsdb.Row{}
		full := natColumns(w)
		if strOf(c.row["logical_port"]) != w.LogicalPort {
			upd["logical_port"] = full["logical_port"]
		}
		if strOf(c.row["external_mac"]) != w.ExternalMAC {
			upd["external_mac"] = full["external_mac"]
		}
		if !sameIDs(strMapOf(c.row["external_ids"]), w.ExternalIDs) {
			upd["external_ids"] = w.ExternalIDs
		}
		if len(upd) > 0 {
			p.ops = append(p.ops, ovsdb.Update(tNAT, []ovsdb.Condition{ovsdb.ByUUID(c.id)}, upd))
		}
	}
	leftovers(cur, wanted, &del)
	return setChanges(cNAT, add, del)
}

func (p *planner) syncRoutes(want []routeRow, refs []ovsdb.UUID) []ovsdb.Mutation {
	cur := p.ownedChildren(tRoute, refs, routeKeyOf)
	var add []ovsdb.NamedUUID
	var del []ovsdb.UUID
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w.key()] = true
		c, ok := pick(cur[w.key()], &del)
		if !ok {
			add = append(add, p.insertRoute(w))
			continue
		}
		if !sameMap(strMapOf(c.row["external_ids"]), w.ExternalIDs) {
			p.ops = append(p.ops, ovsdb.Update(tRoute, []ovsdb.Condition{ovsdb.ByUUID(c.id)}, ovsdb.Row{"external_ids": w.ExternalIDs}))
		}
	}
	leftovers(cur, wanted, &del)
	return setChanges(cRoutes, add, del)
}
