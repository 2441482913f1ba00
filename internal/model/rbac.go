package model

// RBACPolicy is a Neutron RBAC policy (/v2.0/rbac-policies): it grants
// project TargetTenant ("*": every project) an Action on one object. For
// networks the actions are access_as_shared (see it, attach ports to it)
// and access_as_external (use it as an external network: router gateways
// and floating IPs).
type RBACPolicy struct {
	ID           string `json:"id" attr:""`
	ProjectID    string `json:"project_id" attr:"post,max=255"`
	TenantID     string `json:"tenant_id" attr:"post,max=255"`
	ObjectType   string `json:"object_type" attr:"post,req"`
	ObjectID     string `json:"object_id" attr:"post,req"`
	Action       string `json:"action" attr:"post,req,max=255"`
	TargetTenant string `json:"target_tenant" attr:"post,put,req,max=255"`
}

// GetID implements Object.
func (p *RBACPolicy) GetID() string { return p.ID }

// GetProjectID implements Object.
func (p *RBACPolicy) GetProjectID() string { return p.ProjectID }

// The RBAC actions on networks.
const (
	AccessAsShared   = "access_as_shared"
	AccessAsExternal = "access_as_external"
)
