// Package agentapi holds the wire types between spinel servers and the
// agents on hypervisors (/agent/v1/...). A host's desired state is
// self-contained: an agent needs nothing but it to program its data path.
package agentapi

// TapPrefix is the prefix of every tap spinel's agent manages; the full
// name is TapPrefix plus the first 11 characters of the port id, as Nova
// names it.
const TapPrefix = "tap"

// TapName returns the tap device name of a port.
func TapName(portID string) string {
	if len(portID) > 11 {
		portID = portID[:11]
	}
	return TapPrefix + portID
}

// HostMAC is the MAC address every host-side tap carries, so that a VM
// moved between hypervisors sees the same gateway MAC.
const HostMAC = "fe:ff:ff:ff:ff:ff"

// Subnet is what a port's data path needs of a subnet.
type Subnet struct {
	ID              string      `json:"id"`
	CIDR            string      `json:"cidr"`
	IPVersion       int         `json:"ip_version"`
	GatewayIP       string      `json:"gateway_ip,omitempty"` // "" without a gateway
	EnableDHCP      bool        `json:"enable_dhcp"`
	DNSNameservers  []string    `json:"dns_nameservers"`
	HostRoutes      []HostRoute `json:"host_routes"`
	IPv6RAMode      string      `json:"ipv6_ra_mode,omitempty"`
	IPv6AddressMode string      `json:"ipv6_address_mode,omitempty"`
}

// HostRoute is a static route given to guests by DHCP.
type HostRoute struct {
	Destination string `json:"destination"`
	Nexthop     string `json:"nexthop"`
}

// FixedIP is one address of a port.
type FixedIP struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

// AddressPair is an extra address or prefix (and MAC) a port may use.
type AddressPair struct {
	IPAddress  string `json:"ip_address"` // an address or a CIDR
	MACAddress string `json:"mac_address"`
}

// Port is one VM port bound to the host.
type Port struct {
	ID                  string        `json:"id"`
	Tap                 string        `json:"tap"`
	MAC                 string        `json:"mac_address"` // the guest's MAC
	NetworkID           string        `json:"network_id"`
	MTU                 int           `json:"mtu"`
	AdminStateUp        bool          `json:"admin_state_up"`
	PortSecurityEnabled bool          `json:"port_security_enabled"`
	FixedIPs            []FixedIP     `json:"fixed_ips"`
	Subnets             []Subnet      `json:"subnets"` // every subnet of FixedIPs
	AllowedAddressPairs []AddressPair `json:"allowed_address_pairs"`
	SecurityGroups      []string      `json:"security_groups"`
	DeviceID            string        `json:"device_id"` // the instance, for metadata
	ProjectID           string        `json:"project_id"`
	Hostname            string        `json:"hostname,omitempty"` // for DHCP
	DNSDomain           string        `json:"dns_domain,omitempty"`
}

// Rule is one security group rule, normalised.
type Rule struct {
	ID             string  `json:"id"`
	Direction      string  `json:"direction"` // ingress | egress (from the VM's point of view)
	Ethertype      string  `json:"ethertype"` // IPv4 | IPv6
	Protocol       *string `json:"protocol"`  // nil: any; a name or a number
	PortRangeMin   *int    `json:"port_range_min"`
	PortRangeMax   *int    `json:"port_range_max"`
	RemoteIPPrefix *string `json:"remote_ip_prefix"`
	RemoteGroupID  *string `json:"remote_group_id"`
}

// SecurityGroup is a group with its rules and the current addresses of
// its members (every fixed IP and allowed pair of its ports, cloud-wide),
// which rules of other groups may name as their remote group.
type SecurityGroup struct {
	ID       string   `json:"id"`
	Stateful bool     `json:"stateful"`
	Rules    []Rule   `json:"rules"`
	Members  []string `json:"members"` // addresses or CIDRs
}

// NATPlan is a floating IP to realise on this host (routed L3 driver).
type NATPlan struct {
	ID         string `json:"id"`
	FloatingIP string `json:"floating_ip_address"`
	FixedIP    string `json:"fixed_ip_address"`
	PortID     string `json:"port_id"`
}

// State is the complete desired state of one host at a revision.
type State struct {
	Host           string          `json:"host"`
	Revision       int64           `json:"revision"`
	Ports          []Port          `json:"ports"`
	SecurityGroups []SecurityGroup `json:"security_groups"`
	NATPlans       []NATPlan       `json:"nat_plans"`
}

// PortStatus is what an agent reports for one of its ports.
type PortStatus struct {
	ID     string `json:"id"`
	Status string `json:"status"` // ACTIVE, DOWN or ERROR
	Reason string `json:"reason,omitempty"`
}

// Report is an agent's heartbeat with its port statuses and configuration.
type Report struct {
	Host           string         `json:"host"`
	Ports          []PortStatus   `json:"ports"`
	RealizedNAT    []string       `json:"realized_nat,omitempty"` // NAT plan ids realised
	Configurations map[string]any `json:"configurations"`
}
