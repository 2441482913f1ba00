// Package neutron holds the Neutron v2.0 error vocabulary: every error that
// reaches an API client is a *Error carrying Neutron's exception type name,
// its message and the HTTP status Neutron uses for it. The API server maps
// errors to responses in exactly one place (apiserver.writeError) by
// errors.As on this type; anything else is an internal error.
package neutron

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a client-visible Neutron fault. Its JSON form is
// {"NeutronError": {"type": Type, "message": Message, "detail": Detail}}.
type Error struct {
	Status  int    // HTTP status code
	Type    string // Neutron exception class name, e.g. "NetworkNotFound"
	Message string // human readable message, Neutron's wording where it has one
	Detail  string // usually empty, as in Neutron
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Newf builds an Error with a formatted message.
func Newf(status int, typ, format string, args ...any) *Error {
	return &Error{Status: status, Type: typ, Message: fmt.Sprintf(format, args...)}
}

// As reports whether err wraps a *Error and returns it.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// IsType reports whether err wraps a *Error of the given Neutron type.
func IsType(err error, typ string) bool {
	e, ok := As(err)
	return ok && e.Type == typ
}

// BadRequest is Neutron's generic 400 (webob HTTPBadRequest), type "HTTPBadRequest".
func BadRequest(format string, args ...any) *Error {
	return Newf(http.StatusBadRequest, "HTTPBadRequest", format, args...)
}

// InvalidInput is Neutron's InvalidInput (400): "Invalid input for operation: <msg>."
func InvalidInput(format string, args ...any) *Error {
	return Newf(http.StatusBadRequest, "InvalidInput", "Invalid input for operation: %s.", fmt.Sprintf(format, args...))
}

// InvalidAttribute is the 400 Neutron gives when an attribute fails its
// validator: "Invalid input for <attr>. Reason: <reason>."
func InvalidAttribute(attr, reason string) *Error {
	return Newf(http.StatusBadRequest, "HTTPBadRequest", "Invalid input for %s. Reason: %s.", attr, reason)
}

// NotFound is a 404 of the given Neutron type, e.g. NotFound("NetworkNotFound", "Network %s could not be found.", id).
func NotFound(typ, format string, args ...any) *Error {
	return Newf(http.StatusNotFound, typ, format, args...)
}

// Conflict is a 409 of the given Neutron type.
func Conflict(typ, format string, args ...any) *Error {
	return Newf(http.StatusConflict, typ, format, args...)
}

// Forbidden is Neutron's policy refusal (403 PolicyNotAuthorized).
func Forbidden(action string) *Error {
	return Newf(http.StatusForbidden, "PolicyNotAuthorized", "(rule:%s) is disallowed by policy", action)
}

// ResourceNotFound is the 404 for a resource kind, named as Neutron names
// it ("Network", "Subnet", "Port", "SecurityGroup", ...).
func ResourceNotFound(kind, id string) *Error {
	switch kind {
	case "network":
		return NotFound("NetworkNotFound", "Network %s could not be found.", id)
	case "subnet":
		return NotFound("SubnetNotFound", "Subnet %s could not be found.", id)
	case "port":
		return NotFound("PortNotFound", "Port %s could not be found.", id)
	case "security_group":
		return NotFound("SecurityGroupNotFound", "Security group %s does not exist", id)
	case "security_group_rule":
		return NotFound("SecurityGroupRuleNotFound", "Security group rule %s does not exist", id)
	case "router":
		return NotFound("RouterNotFound", "Router %s could not be found", id)
	case "floatingip":
		return NotFound("FloatingIPNotFound", "Floating IP %s could not be found", id)
	case "flavor":
		return NotFound("FlavorNotFound", "Flavor %s could not be found.", id)
	case "service_profile":
		return NotFound("ServiceProfileNotFound", "Service Profile %s could not be found.", id)
	}
	return NotFound("NotFound", "%s %s could not be found.", kind, id)
}

// OverQuota is the 409 for exceeding a project's quota.
func OverQuota(resource string) *Error {
	return Conflict("OverQuota", "Quota exceeded for resources: ['%s'].", resource)
}

// PreconditionFailed is the 412 for an If-Match revision mismatch.
func PreconditionFailed(format string, args ...any) *Error {
	return Newf(http.StatusPreconditionFailed, "RevisionNumberConstraintFailed", format, args...)
}
