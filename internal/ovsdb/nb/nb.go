// Package nb holds typed rows for the OVN northbound tables spinel uses
// (schema /usr/share/ovn/ovn-nb.ovsschema), for ovsdb.Marshal and
// ovsdb.Unmarshal. Each struct has only the columns spinel reads or writes;
// references to other rows are UUID strings (or, when inserting, names of
// rows inserted in the same transaction: see package ovsdb).
package nb

// Database is the northbound database's name.
const Database = "OVN_Northbound"

// Table names.
const (
	NBGlobalTable                 = "NB_Global"
	LogicalSwitchTable            = "Logical_Switch"
	LogicalSwitchPortTable        = "Logical_Switch_Port"
	DHCPOptionsTable              = "DHCP_Options"
	PortGroupTable                = "Port_Group"
	ACLTable                      = "ACL"
	AddressSetTable               = "Address_Set"
	LogicalRouterTable            = "Logical_Router"
	LogicalRouterPortTable        = "Logical_Router_Port"
	LogicalRouterStaticRouteTable = "Logical_Router_Static_Route"
	NATTable                      = "NAT"
	GatewayChassisTable           = "Gateway_Chassis"
)

// NBGlobal is the single NB_Global row.
type NBGlobal struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	NbCfg       int               `ovsdb:"nb_cfg"`
	SbCfg       int               `ovsdb:"sb_cfg"`
	HvCfg       int               `ovsdb:"hv_cfg"`
	Options     map[string]string `ovsdb:"options"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

// LogicalSwitch is a row of Logical_Switch.
type LogicalSwitch struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	Ports       []string          `ovsdb:"ports"`
	ACLs        []string          `ovsdb:"acls"`
	OtherConfig map[string]string `ovsdb:"other_config"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

// LogicalSwitchPort is a row of Logical_Switch_Port.
type LogicalSwitchPort struct {
	UUID          string            `ovsdb:"_uuid"`
	Name          string            `ovsdb:"name"`
	Type          string            `ovsdb:"type"`
	Options       map[string]string `ovsdb:"options"`
	Tag           *int              `ovsdb:"tag"`
	TagRequest    *int              `ovsdb:"tag_request"`
	Addresses     []string          `ovsdb:"addresses"`
	PortSecurity  []string          `ovsdb:"port_security"`
	Up            *bool             `ovsdb:"up"`
	Enabled       *bool             `ovsdb:"enabled"`
	DHCPv4Options *string           `ovsdb:"dhcpv4_options"`
	DHCPv6Options *string           `ovsdb:"dhcpv6_options"`
	ExternalIDs   map[string]string `ovsdb:"external_ids"`
}

// DHCPOptions is a row of DHCP_Options.
type DHCPOptions struct {
	UUID        string            `ovsdb:"_uuid"`
	CIDR        string            `ovsdb:"cidr"`
	Options     map[string]string `ovsdb:"options"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

// PortGroup is a row of Port_Group.
type PortGroup struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	Ports       []string          `ovsdb:"ports"`
	ACLs        []string          `ovsdb:"acls"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

// ACL is a row of ACL.
type ACL struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        *string           `ovsdb:"name"`
	Priority    int               `ovsdb:"priority"`
	Direction   string            `ovsdb:"direction"`
	Match       string            `ovsdb:"match"`
	Action      string            `ovsdb:"action"`
	Log         bool              `ovsdb:"log"`
	Severity    *string           `ovsdb:"severity"`
	Meter       *string           `ovsdb:"meter"`
	Options     map[string]string `ovsdb:"options"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

// AddressSet is a row of Address_Set.
type AddressSet struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	Addresses   []string          `ovsdb:"addresses"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

// LogicalRouter is a row of Logical_Router.
type LogicalRouter struct {
	UUID         string            `ovsdb:"_uuid"`
	Name         string            `ovsdb:"name"`
	Ports        []string          `ovsdb:"ports"`
	StaticRoutes []string          `ovsdb:"static_routes"`
	NAT          []string          `ovsdb:"nat"`
	Enabled      *bool             `ovsdb:"enabled"`
	Options      map[string]string `ovsdb:"options"`
	ExternalIDs  map[string]string `ovsdb:"external_ids"`
}

// LogicalRouterPort is a row of Logical_Router_Port.
type LogicalRouterPort struct {
	UUID           string            `ovsdb:"_uuid"`
	Name           string            `ovsdb:"name"`
	GatewayChassis []string          `ovsdb:"gateway_chassis"`
	Options        map[string]string `ovsdb:"options"`
	Networks       []string          `ovsdb:"networks"`
	MAC            string            `ovsdb:"mac"`
	Peer           *string           `ovsdb:"peer"`
	Enabled        *bool             `ovsdb:"enabled"`
	IPv6RAConfigs  map[string]string `ovsdb:"ipv6_ra_configs"`
	ExternalIDs    map[string]string `ovsdb:"external_ids"`
}

// LogicalRouterStaticRoute is a row of Logical_Router_Static_Route.
type LogicalRouterStaticRoute struct {
	UUID        string            `ovsdb:"_uuid"`
	IPPrefix    string            `ovsdb:"ip_prefix"`
	Nexthop     string            `ovsdb:"nexthop"`
	Policy      *string           `ovsdb:"policy"`
	OutputPort  *string           `ovsdb:"output_port"`
	Options     map[string]string `ovsdb:"options"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

// NAT is a row of NAT.
type NAT struct {
	UUID        string            `ovsdb:"_uuid"`
	Type        string            `ovsdb:"type"`
	ExternalIP  string            `ovsdb:"external_ip"`
	ExternalMAC *string           `ovsdb:"external_mac"`
	LogicalIP   string            `ovsdb:"logical_ip"`
	LogicalPort *string           `ovsdb:"logical_port"`
	GatewayPort *string           `ovsdb:"gateway_port"`
	Options     map[string]string `ovsdb:"options"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

// GatewayChassis is a row of Gateway_Chassis.
type GatewayChassis struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	ChassisName string            `ovsdb:"chassis_name"`
	Priority    int               `ovsdb:"priority"`
	Options     map[string]string `ovsdb:"options"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}
