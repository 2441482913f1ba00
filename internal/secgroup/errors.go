package secgroup

import (
	"net/http"

	"github.com/spinel-net/spinel/internal/neutron"
)

// Neutron exception class names (the NeutronError "type") raised for
// security groups and their rules. Neutron answers InvalidInput and
// BadRequest subclasses with 400, InUse subclasses and Conflict with 409.
const (
	TypeRuleInvalidProtocol        = "SecurityGroupRuleInvalidProtocol"           // 400
	TypeRuleInvalidEtherType       = "SecurityGroupRuleInvalidEtherType"          // 400
	TypeInvalidPortValue           = "SecurityGroupInvalidPortValue"              // 400
	TypeInvalidPortRange           = "SecurityGroupInvalidPortRange"              // 400
	TypeInvalidProtocolForPort     = "SecurityGroupInvalidProtocolForPort"        // 400
	TypeInvalidIcmpValue           = "SecurityGroupInvalidIcmpValue"              // 400
	TypeMissingIcmpType            = "SecurityGroupMissingIcmpType"               // 400
	TypeProtocolRequiredWithPorts  = "SecurityGroupProtocolRequiredWithPorts"     // 400
	TypeRuleParameterConflict      = "SecurityGroupRuleParameterConflict"         // 400
	TypeEthertypeConflictWithProto = "SecurityGroupEthertypeConflictWithProtocol" // 400
	TypeMultipleRemoteEntities     = "SecurityGroupMultipleRemoteEntites"         // 400 (sic, Neutron's spelling)
	TypeInvalidCIDR                = "InvalidCIDR"                                // 400
	TypeRulesNotSingleTenant       = "SecurityGroupRulesNotSingleTenant"          // 400
	TypeNotSingleGroupRules        = "SecurityGroupNotSingleGroupRules"           // 400
	TypeRuleExists                 = "SecurityGroupRuleExists"                    // 409
	TypeDuplicateRuleInPost        = "DuplicateSecurityGroupRuleInPost"           // 409
	TypeInUse                      = "SecurityGroupInUse"                         // 409
	TypeRuleInUse                  = "SecurityGroupRuleInUse"                     // 409
	TypeCannotRemoveDefault        = "SecurityGroupCannotRemoveDefault"           // 409
	TypeCannotUpdateDefault        = "SecurityGroupCannotUpdateDefault"           // 409
	TypeDefaultAlreadyExists       = "SecurityGroupDefaultAlreadyExists"          // 409
	TypeConflict                   = "SecurityGroupConflict"                      // 409
)

func badRequest(typ, format string, args ...any) *neutron.Error {
	return neutron.Newf(http.StatusBadRequest, typ, format, args...)
}

func errInvalidProtocol(p string) *neutron.Error {
	return badRequest(TypeRuleInvalidProtocol,
		"Security group rule protocol %s not supported. Only protocol values %s and integer representations [0 to 255] are supported.",
		p, supportedProtocolsRepr)
}

func errInvalidEtherType(e string) *neutron.Error {
	return badRequest(TypeRuleInvalidEtherType,
		"Security group rule for ethertype '%s' not supported. Allowed values are ['IPv4', 'IPv6'].", e)
}

func errInvalidPortValue(port int) *neutron.Error {
	return badRequest(TypeInvalidPortValue, "Invalid value for port %d", port)
}

func errInvalidPortRange() *neutron.Error {
	return badRequest(TypeInvalidPortRange, "For TCP/UDP protocols, port_range_min must be <= port_range_max")
}

func errInvalidProtocolForPort(proto int) *neutron.Error {
	return badRequest(TypeInvalidProtocolForPort,
		"Ports cannot be specified for protocol %d. Ports are only supported for %s.", proto, portProtocolNames)
}

func errInvalidIcmpValue(field, attr string, value int) *neutron.Error {
	return badRequest(TypeInvalidIcmpValue,
		"Invalid value for ICMP %s (%s) %d. It must be 0 to 255.", field, attr, value)
}

func errMissingIcmpType(code int) *neutron.Error {
	return badRequest(TypeMissingIcmpType,
		"ICMP code (port-range-max) %d is provided but ICMP type (port-range-min) is missing.", code)
}

func errProtocolRequiredWithPorts() *neutron.Error {
	return badRequest(TypeProtocolRequiredWithPorts, "Must also specify protocol if port range is given.")
}

func errParameterConflict(ethertype, cidr string) *neutron.Error {
	return badRequest(TypeRuleParameterConflict, "Conflicting value ethertype %s for CIDR %s", ethertype, cidr)
}

func errEthertypeConflictWithProtocol(ethertype, proto string) *neutron.Error {
	return badRequest(TypeEthertypeConflictWithProto, "Invalid ethertype %s for protocol %s.", ethertype, proto)
}

func errMultipleRemoteEntities() *neutron.Error {
	return badRequest(TypeMultipleRemoteEntities,
		"Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided.")
}

func errInvalidCIDR(input string) *neutron.Error {
	return badRequest(TypeInvalidCIDR, "Invalid CIDR %s given as IP prefix.", input)
}

// ErrRuleExists is the 409 SecurityGroupRuleExists for a new rule that
// duplicates the stored rule ruleID.
func ErrRuleExists(ruleID string) *neutron.Error {
	return neutron.Conflict(TypeRuleExists, "Security group rule already exists. Rule id is %s.", ruleID)
}

// ErrDuplicateRuleInPost is the 409 for two duplicate rules in one (bulk) POST.
func ErrDuplicateRuleInPost() *neutron.Error {
	return neutron.Conflict(TypeDuplicateRuleInPost, "Duplicate Security Group Rule in POST.")
}

// ErrRulesNotSingleTenant is the 400 for a bulk rule create spanning projects.
func ErrRulesNotSingleTenant() *neutron.Error {
	return badRequest(TypeRulesNotSingleTenant, "Multiple tenant_ids in bulk security group rule create not allowed")
}

// ErrNotSingleGroupRules is the 400 for a bulk rule create spanning groups.
func ErrNotSingleGroupRules() *neutron.Error {
	return badRequest(TypeNotSingleGroupRules, "Only allowed to update rules for one security profile at a time")
}

// ErrInUse is the 409 for deleting (or changing "stateful" of) a group
// that ports use: "Security Group <id> in use.".
func ErrInUse(groupID string) *neutron.Error {
	return neutron.Conflict(TypeInUse, "Security Group %s in use.", groupID)
}

// ErrRuleInUse is the 409 SecurityGroupRuleInUse with Neutron's default reason.
func ErrRuleInUse(ruleID string) *neutron.Error {
	return neutron.Conflict(TypeRuleInUse, "Security Group Rule %s in use.", ruleID)
}

// ErrCannotRemoveDefault is the 409 for a non-admin deleting a "default" group.
func ErrCannotRemoveDefault() *neutron.Error {
	return neutron.Conflict(TypeCannotRemoveDefault, "Insufficient rights for removing default security group.")
}

// ErrCannotUpdateDefault is the 409 for renaming a "default" group.
func ErrCannotUpdateDefault() *neutron.Error {
	return neutron.Conflict(TypeCannotUpdateDefault, "Updating default security group not allowed.")
}

// ErrDefaultAlreadyExists is the 409 for naming a group "default" (any case).
func ErrDefaultAlreadyExists() *neutron.Error {
	return neutron.Conflict(TypeDefaultAlreadyExists, "Default security group already exists.")
}

// ErrConflict is the 409 SecurityGroupConflict: "Error <reason> while
// attempting the operation.", e.g. for mixing stateful and stateless groups
// on one port (reason "Cannot apply both stateful and stateless security
// groups on the same port at the same time").
func ErrConflict(reason string) *neutron.Error {
	return neutron.Conflict(TypeConflict, "Error %s while attempting the operation.", reason)
}
