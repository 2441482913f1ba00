// Package model defines spinel's resources exactly as they appear on the
// Neutron v2.0 wire. Each resource is a plain struct whose JSON form is both
// the API representation (admin view) and the document stored in etcd.
//
// Struct tags describe each attribute the way Neutron's attribute maps do:
//
//	attr:"post,put,req,nofilter,max=255"
//
//	post     may be given on create        put      may be changed on update
//	req      required on create            nofilter not usable as a list filter or sort key
//	max=N    string length limit           zerodefault  the zero value is the default (policy spares it on create)
//	internal stored but never shown
//
// Attributes without post or put are read-only. Who may set or see an
// attribute is decided by the policy engine (internal/policy), through
// Neutron's attribute rules ("create_network:shared",
// "get_port:binding:host_id"); see PolicyAttrs.
package model

import "time"

// TimeFormat is Neutron's timestamp format (UTC, second precision, "Z").
const TimeFormat = "2006-01-02T15:04:05Z"

// Object is implemented by every resource.
type Object interface {
	GetID() string
	GetProjectID() string
}

// Tagged is implemented by resources with the full standard attributes
// (tags, revision number, timestamps).
type Tagged interface {
	Object
	Std() *Standard
}

// Standard holds the attributes every Neutron resource with standard
// attributes carries. ProjectID and TenantID always hold the same value.
type Standard struct {
	ID             string   `json:"id" attr:""`
	Name           string   `json:"name" attr:"post,put,max=255"`
	Description    string   `json:"description" attr:"post,put,max=255"`
	ProjectID      string   `json:"project_id" attr:"post,max=255"`
	TenantID       string   `json:"tenant_id" attr:"post,max=255"`
	CreatedAt      string   `json:"created_at" attr:""`
	UpdatedAt      string   `json:"updated_at" attr:""`
	RevisionNumber int64    `json:"revision_number" attr:""`
	Tags           []string `json:"tags" attr:""`
}

// Std implements Tagged.
func (s *Standard) Std() *Standard { return s }

// GetID implements Object.
func (s *Standard) GetID() string { return s.ID }

// GetProjectID implements Object.
func (s *Standard) GetProjectID() string { return s.ProjectID }

// Stamp sets creation and update times to now.
func (s *Standard) Stamp(now time.Time) {
	t := now.UTC().Format(TimeFormat)
	if s.CreatedAt == "" {
		s.CreatedAt = t
	}
	s.UpdatedAt = t
}

// Network is a Neutron network.
type Network struct {
	Standard
	AdminStateUp          bool     `json:"admin_state_up" attr:"post,put"`
	Status                string   `json:"status" attr:""`
	Shared                bool     `json:"shared" attr:"post,put,zerodefault"`
	Subnets               []string `json:"subnets" attr:"nofilter"`
	MTU                   int      `json:"mtu" attr:"post,put"`
	PortSecurityEnabled   bool     `json:"port_security_enabled" attr:"post,put"`
	RouterExternal        bool     `json:"router:external" attr:"post,put,zerodefault"`
	NetworkType           string   `json:"provider:network_type" attr:"post"`
	PhysicalNetwork       *string  `json:"provider:physical_network" attr:"post"`
	SegmentationID        *int     `json:"provider:segmentation_id" attr:"post"`
	L2Adjacency           bool     `json:"l2_adjacency" attr:""`
	AvailabilityZoneHints []string `json:"availability_zone_hints" attr:"post,nofilter"`
	AvailabilityZones     []string `json:"availability_zones" attr:"nofilter"`
	IPv4AddressScope      *string  `json:"ipv4_address_scope" attr:""`
	IPv6AddressScope      *string  `json:"ipv6_address_scope" attr:""`
	IsDefault             bool     `json:"is_default" attr:""`
}

// AllocationPool is an inclusive range of addresses a subnet allocates from.
type AllocationPool struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// HostRoute is a static route handed to guests by DHCP.
type HostRoute struct {
	Destination string `json:"destination"`
	Nexthop     string `json:"nexthop"`
}

// Subnet is a Neutron subnet.
type Subnet struct {
	Standard
	NetworkID       string           `json:"network_id" attr:"post,req"`
	IPVersion       int              `json:"ip_version" attr:"post,req"`
	CIDR            string           `json:"cidr" attr:"post"`
	GatewayIP       *string          `json:"gateway_ip" attr:"post,put"`
	AllocationPools []AllocationPool `json:"allocation_pools" attr:"post,put,nofilter"`
	DNSNameservers  []string         `json:"dns_nameservers" attr:"post,put,nofilter"`
	HostRoutes      []HostRoute      `json:"host_routes" attr:"post,put,nofilter"`
	EnableDHCP      bool             `json:"enable_dhcp" attr:"post,put"`
	IPv6RAMode      *string          `json:"ipv6_ra_mode" attr:"post"`
	IPv6AddressMode *string          `json:"ipv6_address_mode" attr:"post"`
	SubnetpoolID    *string          `json:"subnetpool_id" attr:""`
	SegmentID       *string          `json:"segment_id" attr:""`
	ServiceTypes    []string         `json:"service_types" attr:"nofilter"`
	DNSPublishFixed bool             `json:"dns_publish_fixed_ip" attr:""`
	PrefixLength    *int             `json:"prefixlen,omitempty" attr:"post,nofilter"`
}

// FixedIP is one address of a port. On requests either field may be absent.
type FixedIP struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

// AddressPair is an extra address (or prefix) a port may send from.
type AddressPair struct {
	IPAddress  string `json:"ip_address"`
	MACAddress string `json:"mac_address"`
}

// Port is a Neutron port.
type Port struct {
	Standard
	NetworkID           string         `json:"network_id" attr:"post,req"`
	AdminStateUp        bool           `json:"admin_state_up" attr:"post,put"`
	MACAddress          string         `json:"mac_address" attr:"post,put"`
	FixedIPs            []FixedIP      `json:"fixed_ips" attr:"post,put"`
	DeviceID            string         `json:"device_id" attr:"post,put,max=255"`
	DeviceOwner         string         `json:"device_owner" attr:"post,put,max=255"`
	Status              string         `json:"status" attr:""`
	SecurityGroups      []string       `json:"security_groups" attr:"post,put"`
	AllowedAddressPairs []AddressPair  `json:"allowed_address_pairs" attr:"post,put,nofilter"`
	PortSecurityEnabled bool           `json:"port_security_enabled" attr:"post,put"`
	HostID              string         `json:"binding:host_id" attr:"post,put"`
	VNICType            string         `json:"binding:vnic_type" attr:"post,put"`
	Profile             map[string]any `json:"binding:profile" attr:"post,put,nofilter"`
	VIFType             string         `json:"binding:vif_type" attr:""`
	VIFDetails          map[string]any `json:"binding:vif_details" attr:"nofilter"`
	IPAllocation        string         `json:"ip_allocation" attr:""`
}

// SecurityGroup is a Neutron security group. Rules is computed on read.
type SecurityGroup struct {
	Standard
	Stateful bool                `json:"stateful" attr:"post,put"`
	Shared   bool                `json:"shared" attr:""`
	Rules    []SecurityGroupRule `json:"security_group_rules" attr:"nofilter"`
}

// SecurityGroupRule is a Neutron security group rule. Rules cannot be updated.
type SecurityGroupRule struct {
	ID                   string  `json:"id" attr:""`
	ProjectID            string  `json:"project_id" attr:"post,max=255"`
	TenantID             string  `json:"tenant_id" attr:"post,max=255"`
	Description          string  `json:"description" attr:"post,max=255"`
	SecurityGroupID      string  `json:"security_group_id" attr:"post,req"`
	Direction            string  `json:"direction" attr:"post,req"`
	Ethertype            string  `json:"ethertype" attr:"post"`
	Protocol             *string `json:"protocol" attr:"post"`
	PortRangeMin         *int    `json:"port_range_min" attr:"post"`
	PortRangeMax         *int    `json:"port_range_max" attr:"post"`
	RemoteIPPrefix       *string `json:"remote_ip_prefix" attr:"post"`
	RemoteGroupID        *string `json:"remote_group_id" attr:"post"`
	RemoteAddressGroupID *string `json:"remote_address_group_id" attr:"post"`
	Normalized           *string `json:"normalized_cidr" attr:""`
	BelongsToDefault     bool    `json:"belongs_to_default_sg" attr:""`
	CreatedAt            string  `json:"created_at" attr:""`
	UpdatedAt            string  `json:"updated_at" attr:""`
	RevisionNumber       int64   `json:"revision_number" attr:""`
}

// GetID implements Object.
func (r *SecurityGroupRule) GetID() string { return r.ID }

// GetProjectID implements Object.
func (r *SecurityGroupRule) GetProjectID() string { return r.ProjectID }

// ExternalFixedIP is an address of a router's gateway port.
type ExternalFixedIP struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

// GatewayInfo is a router's external_gateway_info.
type GatewayInfo struct {
	NetworkID        string            `json:"network_id"`
	EnableSNAT       *bool             `json:"enable_snat,omitempty"`
	ExternalFixedIPs []ExternalFixedIP `json:"external_fixed_ips,omitempty"`
}

// Route is an extra route of a router.
type Route struct {
	Destination string `json:"destination"`
	Nexthop     string `json:"nexthop"`
}

// Router is a Neutron router. FlavorID is null when no flavor was chosen;
// Provider names the service provider (driver) that owns the router and is
// never shown to clients.
type Router struct {
	Standard
	AdminStateUp          bool         `json:"admin_state_up" attr:"post,put"`
	Status                string       `json:"status" attr:""`
	GatewayInfo           *GatewayInfo `json:"external_gateway_info" attr:"post,put,nofilter"`
	Routes                []Route      `json:"routes" attr:"put,nofilter"`
	HA                    bool         `json:"ha" attr:"post,put"`
	Distributed           bool         `json:"distributed" attr:"post,put"`
	FlavorID              *string      `json:"flavor_id" attr:"post"`
	AvailabilityZoneHints []string     `json:"availability_zone_hints" attr:"post,nofilter"`
	AvailabilityZones     []string     `json:"availability_zones" attr:"nofilter"`
	Provider              string       `json:"provider" attr:"internal"`
}

// PortDetails is the floating IP's view of its port.
type PortDetails struct {
	Name         string `json:"name"`
	NetworkID    string `json:"network_id"`
	MACAddress   string `json:"mac_address"`
	AdminStateUp bool   `json:"admin_state_up"`
	Status       string `json:"status"`
	DeviceID     string `json:"device_id"`
	DeviceOwner  string `json:"device_owner"`
}

// FloatingIP is a Neutron floating IP. FloatingPortID is the hidden port
// on the external network that holds the address.
type FloatingIP struct {
	Standard
	FloatingIPAddress string       `json:"floating_ip_address" attr:"post"`
	FloatingNetworkID string       `json:"floating_network_id" attr:"post,req"`
	SubnetID          *string      `json:"subnet_id" attr:"post,internal,nofilter"`
	PortID            *string      `json:"port_id" attr:"post,put"`
	FixedIPAddress    *string      `json:"fixed_ip_address" attr:"post,put"`
	RouterID          *string      `json:"router_id" attr:""`
	Status            string       `json:"status" attr:""`
	PortDetails       *PortDetails `json:"port_details" attr:"nofilter"`
	PortForwardings   []any        `json:"port_forwardings" attr:"nofilter"`
	FloatingPortID    string       `json:"floating_port_id" attr:"internal,nofilter"`
}

// Flavor is a user-visible choice of service (e.g. a router backend).
type Flavor struct {
	ID              string   `json:"id" attr:""`
	Name            string   `json:"name" attr:"post,put,max=255"`
	Description     string   `json:"description" attr:"post,put,max=1024"`
	ServiceType     string   `json:"service_type" attr:"post,req"`
	Enabled         bool     `json:"enabled" attr:"post,put"`
	ServiceProfiles []string `json:"service_profiles" attr:"post,put,nofilter"`
}

// GetID implements Object.
func (f *Flavor) GetID() string { return f.ID }

// GetProjectID implements Object; flavors belong to no project.
func (f *Flavor) GetProjectID() string { return "" }

// ServiceProfile binds a flavor to a driver (and its settings in Metainfo).
type ServiceProfile struct {
	ID          string   `json:"id" attr:""`
	Description string   `json:"description" attr:"post,put,max=1024"`
	Driver      string   `json:"driver" attr:"post,put,max=1024"`
	Metainfo    string   `json:"metainfo" attr:"post,put,max=4096"`
	Enabled     bool     `json:"enabled" attr:"post,put"`
	Flavors     []string `json:"flavors" attr:"nofilter"`
}

// GetID implements Object.
func (p *ServiceProfile) GetID() string { return p.ID }

// GetProjectID implements Object; profiles belong to no project.
func (p *ServiceProfile) GetProjectID() string { return "" }

// Agent is a Neutron agent: here, a spinel agent on a hypervisor.
// Alive is computed on read from HeartbeatTimestamp.
type Agent struct {
	ID                 string         `json:"id" attr:""`
	AgentType          string         `json:"agent_type" attr:""`
	Binary             string         `json:"binary" attr:""`
	Topic              string         `json:"topic" attr:""`
	Host               string         `json:"host" attr:""`
	AdminStateUp       bool           `json:"admin_state_up" attr:"put"`
	Alive              bool           `json:"alive" attr:""`
	Description        string         `json:"description" attr:"put,max=255"`
	CreatedAt          string         `json:"created_at" attr:""`
	StartedAt          string         `json:"started_at" attr:""`
	HeartbeatTimestamp string         `json:"heartbeat_timestamp" attr:""`
	Configurations     map[string]any `json:"configurations" attr:"nofilter"`
	AvailabilityZone   *string        `json:"availability_zone" attr:""`
	ResourcesSynced    *bool          `json:"resources_synced" attr:""`
}

// GetID implements Object.
func (a *Agent) GetID() string { return a.ID }

// GetProjectID implements Object; agents belong to no project.
func (a *Agent) GetProjectID() string { return "" }

// FixedIPs0 returns the port's first address, or "".
func (p *Port) FixedIPs0() string {
	if len(p.FixedIPs) == 0 {
		return ""
	}
	return p.FixedIPs[0].IPAddress
}
