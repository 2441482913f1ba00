package netsync

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/spinel-net/spinel/internal/ovsdb"
	"github.com/spinel-net/spinel/internal/ovsdb/nb"
)

// Tables are the northbound tables netsync reads and writes.
var Tables = []string{nb.LogicalSwitchTable, nb.LogicalSwitchPortTable, nb.DHCPOptionsTable, nb.PortGroupTable, nb.ACLTable}

// Columns compared and written, per table.
var (
	switchColumns = []string{"other_config", "external_ids"}
	portColumns   = []string{"type", "options", "tag", "addresses", "port_security", "enabled", "dhcpv4_options", "dhcpv6_options", "external_ids"}
	dhcpColumns   = []string{"cidr", "options", "external_ids"}
	aclColumns    = []string{"priority", "direction", "match", "action", "log", "name", "severity", "external_ids"}
)

// unit is a set of operations that must commit together (they refer to
// each other's named rows). lspInserts maps op indexes to the names of the
// switch ports they insert, to learn their UUIDs.
type unit struct {
	what       string
	ops        []ovsdb.Operation
	lspInserts map[int]string
}

func (u *unit) add(op ovsdb.Operation) int {
	u.ops = append(u.ops, op)
	return len(u.ops) - 1
}

// actual indexes a snapshot of the monitored tables.
type actual struct {
	switches  map[string][]ovsdb.UUID // by name
	ls        map[ovsdb.UUID]*nb.LogicalSwitch
	lspByName map[string]*nb.LogicalSwitchPort
	lspByID   map[ovsdb.UUID]*nb.LogicalSwitchPort
	lspOwner  map[ovsdb.UUID]ovsdb.UUID    // switch port -> its switch
	dhcp      map[string][]*nb.DHCPOptions // owned subnet options, by subnet id
	pgs       map[string]*nb.PortGroup     // by name
	acls      map[ovsdb.UUID]*nb.ACL
	ownedDHCP []*nb.DHCPOptions
}

func owned(ext map[string]string) bool { return ext[OwnerKey] == Owner }

func index(snap ovsdb.Snapshot) (*actual, error) {
	a := &actual{
		switches: map[string][]ovsdb.UUID{}, ls: map[ovsdb.UUID]*nb.LogicalSwitch{},
		lspByName: map[string]*nb.LogicalSwitchPort{}, lspByID: map[ovsdb.UUID]*nb.LogicalSwitchPort{}, lspOwner: map[ovsdb.UUID]ovsdb.UUID{},
		dhcp: map[string][]*nb.DHCPOptions{}, pgs: map[string]*nb.PortGroup{}, acls: map[ovsdb.UUID]*nb.ACL{},
	}
	for id, row := range snap[nb.LogicalSwitchTable] {
		ls := &nb.LogicalSwitch{}
		if err := ovsdb.Unmarshal(row, ls); err != nil {
			return nil, err
		}
		a.ls[id] = ls
		a.switches[ls.Name] = append(a.switches[ls.Name], id)
		for _, p := range ls.Ports {
			a.lspOwner[ovsdb.UUID(p)] = id
		}
	}
	for _, row := range snap[nb.LogicalSwitchPortTable] {
		p := &nb.LogicalSwitchPort{}
		if err := ovsdb.Unmarshal(row, p); err != nil {
			return nil, err
		}
		a.lspByName[p.Name] = p
		a.lspByID[ovsdb.UUID(p.UUID)] = p
	}
	for _, row := range snap[nb.DHCPOptionsTable] {
		d := &nb.DHCPOptions{}
		if err := ovsdb.Unmarshal(row, d); err != nil {
			return nil, err
		}
		if owned(d.ExternalIDs) {
			a.ownedDHCP = append(a.ownedDHCP, d)
			if d.ExternalIDs["port_id"] == "" {
				a.dhcp[d.ExternalIDs[keySubnetID]] = append(a.dhcp[d.ExternalIDs[keySubnetID]], d)
			}
		}
	}
	for _, row := range snap[nb.PortGroupTable] {
		pg := &nb.PortGroup{}
		if err := ovsdb.Unmarshal(row, pg); err != nil {
			return nil, err
		}
		a.pgs[pg.Name] = pg
	}
	for id, row := range snap[nb.ACLTable] {
		acl := &nb.ACL{}
		if err := ovsdb.Unmarshal(row, acl); err != nil {
			return nil, err
		}
		a.acls[id] = acl
	}
	for _, ids := range a.switches {
		// Prefer our own row, then the lowest UUID: a stable choice.
		slices.SortFunc(ids, func(x, y ovsdb.UUID) int {
			ox, oy := owned(a.ls[x].ExternalIDs), owned(a.ls[y].ExternalIDs)
			if ox != oy {
				if ox {
					return -1
				}
				return 1
			}
			return strings.Compare(string(x), string(y))
		})
	}
	return a, nil
}

// planner turns the difference between desired and actual into units.
type planner struct {
	a     *actual
	names int
}

func (p *planner) name(prefix string) string {
	p.names++
	return fmt.Sprintf("%s%d", prefix, p.names)
}

// switchUnit makes a network's switch, ports and DHCP options match.
func (p *planner) switchUnit(sw *Switch) *unit {
	u := &unit{what: "network " + strings.TrimPrefix(sw.Row.Name, "neutron-"), lspInserts: map[int]string{}}
	a := p.a

	// DHCP options first: ports refer to them.
	dhcpRef := map[string]any{} // subnet id -> UUID or NamedUUID
	for _, dh := range sw.DHCP {
		rows := a.dhcp[dh.SubnetID]
		sort.Slice(rows, func(i, j int) bool { return rows[i].UUID < rows[j].UUID })
		if len(rows) == 0 {
			n := p.name("dhcp")
			u.add(ovsdb.Insert(nb.DHCPOptionsTable, mustMarshal(&dh.Row, dhcpColumns...), n))
			dhcpRef[dh.SubnetID] = ovsdb.NamedUUID(n)
			continue
		}
		cur := rows[0]
		dhcpRef[dh.SubnetID] = ovsdb.UUID(cur.UUID)
		if !same(cur, &dh.Row, dhcpColumns...) {
			u.add(ovsdb.Update(nb.DHCPOptionsTable, byUUID(cur.UUID), mustMarshal(&dh.Row, dhcpColumns...)))
		}
		for _, extra := range rows[1:] {
			u.add(ovsdb.Delete(nb.DHCPOptionsTable, ovsdb.ByUUID(ovsdb.UUID(extra.UUID))))
		}
	}

	var lsID ovsdb.UUID
	var ls *nb.LogicalSwitch
	if ids := a.switches[sw.Row.Name]; len(ids) > 0 {
		lsID, ls = ids[0], a.ls[ids[0]]
		for _, extra := range ids[1:] {
			if owned(a.ls[extra].ExternalIDs) {
				u.add(ovsdb.Delete(nb.LogicalSwitchTable, ovsdb.ByUUID(extra)))
			}
		}
	}

	var attach []any // ports to add to the switch
	detach := map[ovsdb.UUID][]ovsdb.UUID{}
	want := map[string]bool{}
	for _, sp := range sw.Ports {
		want[sp.Row.Name] = true
		row := sp.Row
		row.DHCPv4Options, row.DHCPv6Options = nil, nil
		cols := mustMarshal(&row, portColumns...)
		cols["dhcpv4_options"] = refOrEmpty(dhcpRef, sp.DHCPv4)
		cols["dhcpv6_options"] = refOrEmpty(dhcpRef, sp.DHCPv6)
		cur := a.lspByName[sp.Row.Name]
		if cur == nil {
			n := p.name("lsp")
			cols["name"] = sp.Row.Name
			i := u.add(ovsdb.Insert(nb.LogicalSwitchPortTable, cols, n))
			u.lspInserts[i] = sp.Row.Name
			attach = append(attach, ovsdb.NamedUUID(n))
			continue
		}
		if !samePort(cur, &row, cols) {
			u.add(ovsdb.Update(nb.LogicalSwitchPortTable, byUUID(cur.UUID), cols))
		}
		if owner, ok := a.lspOwner[ovsdb.UUID(cur.UUID)]; !ok || owner != lsID || ls == nil {
			attach = append(attach, ovsdb.UUID(cur.UUID))
			if ok && (ls == nil || owner != lsID) {
				detach[owner] = append(detach[owner], ovsdb.UUID(cur.UUID))
			}
		}
	}
	for owner, ids := range detach {
		u.add(ovsdb.Mutate(nb.LogicalSwitchTable, []ovsdb.Condition{ovsdb.ByUUID(owner)}, ovsdb.DeleteFrom("ports", ids)))
	}

	if ls == nil {
		row := mustMarshal(&sw.Row, switchColumns...)
		row["name"] = sw.Row.Name
		row["ports"] = ovsdb.Set(attach)
		u.add(ovsdb.Insert(nb.LogicalSwitchTable, row, p.name("ls")))
		return u
	}
	if !same(ls, &sw.Row, switchColumns...) {
		u.add(ovsdb.Update(nb.LogicalSwitchTable, byUUID(ls.UUID), mustMarshal(&sw.Row, switchColumns...)))
	}
	var stale []ovsdb.UUID
	for _, id := range ls.Ports {
		if lsp := a.lspByID[ovsdb.UUID(id)]; lsp != nil && !want[lsp.Name] && owned(lsp.ExternalIDs) {
			stale = append(stale, ovsdb.UUID(id))
		}
	}
	var muts []ovsdb.Mutation
	if len(attach) > 0 {
		muts = append(muts, ovsdb.InsertInto("ports", ovsdb.Set(attach)))
	}
	if len(stale) > 0 {
		muts = append(muts, ovsdb.DeleteFrom("ports", stale))
	}
	if len(muts) > 0 {
		u.add(ovsdb.Mutate(nb.LogicalSwitchTable, byUUID(ls.UUID), muts...))
	}
	return u
}

// portGroupUnit makes a port group and its ACLs match; lsp resolves switch
// port names to UUIDs (ports not known are left out until the next pass).
func (p *planner) portGroupUnit(pg *PortGroup, lsp func(string) (ovsdb.UUID, bool)) *unit {
	u := &unit{what: "port group " + pg.Row.Name}
	ports := ovsdb.Set{}
	for _, name := range pg.Ports {
		if id, ok := lsp(name); ok {
			ports = append(ports, id)
		}
	}
	cur := p.a.pgs[pg.Row.Name]
	var addACLs []any
	var delACLs []ovsdb.UUID
	seen := map[string]bool{}
	if cur != nil {
		byKey := map[string]*nb.ACL{}
		for _, id := range cur.ACLs {
			acl := p.a.acls[ovsdb.UUID(id)]
			if acl == nil {
				continue
			}
			key := acl.ExternalIDs[keySGRuleID]
			if key == "" {
				key = acl.ExternalIDs[keyACL]
			}
			if key == "" || byKey[key] != nil {
				delACLs = append(delACLs, ovsdb.UUID(id)) // not ours, or a duplicate
				continue
			}
			byKey[key] = acl
		}
		for _, want := range pg.ACLs {
			seen[want.Key] = true
			acl := byKey[want.Key]
			if acl == nil {
				n := p.name("acl")
				u.add(ovsdb.Insert(nb.ACLTable, mustMarshal(&want.Row, aclColumns...), n))
				addACLs = append(addACLs, ovsdb.NamedUUID(n))
				continue
			}
			if !same(acl, &want.Row, aclColumns...) {
				u.add(ovsdb.Update(nb.ACLTable, byUUID(acl.UUID), mustMarshal(&want.Row, aclColumns...)))
			}
		}
		for key, acl := range byKey {
			if !seen[key] {
				delACLs = append(delACLs, ovsdb.UUID(acl.UUID))
			}
		}
	} else {
		for _, want := range pg.ACLs {
			n := p.name("acl")
			u.add(ovsdb.Insert(nb.ACLTable, mustMarshal(&want.Row, aclColumns...), n))
			addACLs = append(addACLs, ovsdb.NamedUUID(n))
		}
	}
	if cur == nil {
		u.add(ovsdb.Insert(nb.PortGroupTable, ovsdb.Row{
			"name": pg.Row.Name, "external_ids": pg.Row.ExternalIDs, "ports": ports, "acls": ovsdb.Set(addACLs),
		}, ""))
		return u
	}
	row := ovsdb.Row{}
	if !sameStrings(cur.Ports, setStrings(ports)) {
		row["ports"] = ports
	}
	if !sameMap(cur.ExternalIDs, pg.Row.ExternalIDs) {
		row["external_ids"] = pg.Row.ExternalIDs
	}
	if len(row) > 0 {
		u.add(ovsdb.Update(nb.PortGroupTable, byUUID(cur.UUID), row))
	}
	var muts []ovsdb.Mutation
	if len(addACLs) > 0 {
		muts = append(muts, ovsdb.InsertInto("acls", ovsdb.Set(addACLs)))
	}
	if len(delACLs) > 0 {
		muts = append(muts, ovsdb.DeleteFrom("acls", delACLs))
	}
	if len(muts) > 0 {
		u.add(ovsdb.Mutate(nb.PortGroupTable, byUUID(cur.UUID), muts...))
	}
	return u
}

// deletions removes the owned rows nothing desires: switches (with their
// ports), DHCP options and port groups (with their ACLs).
func (p *planner) deletions(d *Desired) []*unit {
	wantLS, wantDHCP, wantPG := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, sw := range d.Switches {
		wantLS[sw.Row.Name] = true
		for _, dh := range sw.DHCP {
			wantDHCP[dh.SubnetID] = true
		}
	}
	for _, pg := range d.PortGroups {
		wantPG[pg.Row.Name] = true
	}
	var units []*unit
	del := func(what, table string, id string) {
		units = append(units, &unit{what: what, ops: []ovsdb.Operation{ovsdb.Delete(table, ovsdb.ByUUID(ovsdb.UUID(id)))}})
	}
	for name, ids := range p.a.switches {
		for _, id := range ids {
			if !wantLS[name] && owned(p.a.ls[id].ExternalIDs) {
				del("delete switch "+name, nb.LogicalSwitchTable, string(id))
			}
		}
	}
	for _, dh := range p.a.ownedDHCP {
		if !wantDHCP[dh.ExternalIDs[keySubnetID]] || dh.ExternalIDs["port_id"] != "" {
			del("delete DHCP options of subnet "+dh.ExternalIDs[keySubnetID], nb.DHCPOptionsTable, dh.UUID)
		}
	}
	for name, pg := range p.a.pgs {
		if !wantPG[name] && owned(pg.ExternalIDs) {
			del("delete port group "+name, nb.PortGroupTable, pg.UUID)
		}
	}
	sort.Slice(units, func(i, j int) bool { return units[i].what < units[j].what })
	return units
}

func byUUID(id string) []ovsdb.Condition { return []ovsdb.Condition{ovsdb.ByUUID(ovsdb.UUID(id))} }

func refOrEmpty(refs map[string]any, subnet string) any {
	if subnet == "" || refs[subnet] == nil {
		return ovsdb.Set{}
	}
	return ovsdb.Set{refs[subnet]}
}

func mustMarshal(v any, cols ...string) ovsdb.Row {
	row, err := ovsdb.Marshal(v, cols...)
	if err != nil {
		panic(fmt.Sprintf("netsync: %v", err)) // a column list that does not match the struct: a bug
	}
	return row
}

// same compares the named columns of two typed rows as OVSDB would (sets
// unordered, nil and empty alike).
func same(a, b any, cols ...string) bool {
	ra, rb := mustMarshal(a, cols...), mustMarshal(b, cols...)
	for _, c := range cols {
		if canon(ra[c]) != canon(rb[c]) {
			return false
		}
	}
	return true
}

// samePort compares an actual switch port with the desired columns (whose
// DHCP references are UUIDs, or names of rows still to be inserted).
func samePort(cur *nb.LogicalSwitchPort, want *nb.LogicalSwitchPort, cols ovsdb.Row) bool {
	if !same(cur, want, "type", "options", "tag", "addresses", "port_security", "enabled", "external_ids") {
		return false
	}
	return canon(cur.DHCPv4Options) == canon(cols["dhcpv4_options"]) && canon(cur.DHCPv6Options) == canon(cols["dhcpv6_options"])
}

// canon renders a column value canonically.
func canon(v any) string {
	switch x := v.(type) {
	case nil:
		return "[]"
	case *string:
		if x == nil {
			return "[]"
		}
		return "[" + *x + "]"
	case *int:
		if x == nil {
			return "[]"
		}
		return fmt.Sprintf("[%d]", *x)
	case *bool:
		if x == nil {
			return "[]"
		}
		return fmt.Sprintf("[%v]", *x)
	case []string:
		s := slices.Clone(x)
		sort.Strings(s)
		return "[" + strings.Join(s, "\x00") + "]"
	case ovsdb.Set:
		return canon(setStrings(x))
	case map[string]string:
		keys := make([]string, 0, len(x))
		for k, v := range x {
			keys = append(keys, k+"="+v)
		}
		sort.Strings(keys)
		return "{" + strings.Join(keys, "\x00") + "}"
	}
	return fmt.Sprint(v)
}

func setStrings(s ovsdb.Set) []string {
	out := make([]string, 0, len(s))
	for _, e := range s {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

func sameStrings(a, b []string) bool { return canon(a) == canon(b) }

func sameMap(a, b map[string]string) bool { return canon(a) == canon(b) }
