// Package auth identifies the caller of an API request. The API server
// depends only on the Authenticator interface; noauth mode is implemented
// here and Keystone plugs in behind the same interface.
package auth

import (
	"context"
	"net/http"
	"slices"
	"strings"
)

// Identity is who a request acts as.
type Identity struct {
	ProjectID string
	UserID    string
	Roles     []string
	Admin     bool

	// Set by Keystone authentication only (empty in noauth mode).
	ProjectName     string
	ProjectDomainID string
	UserName        string
	UserDomainID    string
}

// HasRole reports whether the identity carries role (case-insensitive).
func (i *Identity) HasRole(role string) bool {
	return slices.ContainsFunc(i.Roles, func(r string) bool { return strings.EqualFold(r, role) })
}

// Owns reports whether the identity may act on a resource of project as its owner.
func (i *Identity) Owns(project string) bool { return i.Admin || i.ProjectID == project }

// Authenticator turns a request into an Identity. It returns a
// *neutron.Error (401, 503) when the request cannot be authenticated.
type Authenticator interface {
	Authenticate(r *http.Request) (*Identity, error)
}

// NoAuth trusts the request: without X-Project-Id it is an admin acting in
// AdminProject; with it, it acts as that project with the roles in X-Roles
// (admin only if they include "admin"). Any X-Auth-Token is ignored.
type NoAuth struct {
	AdminProject string
}

// Authenticate implements Authenticator.
func (n NoAuth) Authenticate(r *http.Request) (*Identity, error) {
	project := strings.TrimSpace(r.Header.Get("X-Project-Id"))
	if project == "" {
		return &Identity{ProjectID: n.AdminProject, UserID: "admin", Roles: []string{"admin", "member", "reader"}, Admin: true}, nil
	}
	id := &Identity{ProjectID: project, UserID: r.Header.Get("X-User-Id")}
	for _, role := range strings.Split(r.Header.Get("X-Roles"), ",") {
		if role = strings.TrimSpace(role); role != "" {
			id.Roles = append(id.Roles, role)
		}
	}
	if len(id.Roles) == 0 {
		id.Roles = []string{"member", "reader"}
	}
	id.Admin = id.HasRole("admin")
	return id, nil
}

type ctxKey struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the identity in ctx; a context without one is an admin
// (internal callers such as reconcilers).
func From(ctx context.Context) *Identity {
	if id, ok := ctx.Value(ctxKey{}).(*Identity); ok {
		return id
	}
	return &Identity{Admin: true, Roles: []string{"admin"}}
}
