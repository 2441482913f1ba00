package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/store"
)

// QuotaResources are the resources with quotas, in Neutron's names.
var QuotaResources = []string{"network", "subnet", "port", "router", "floatingip", "security_group", "security_group_rule"}

// Quota is a project's stored quota overrides (kind "quota", id = project).
type Quota struct {
	ProjectID string         `json:"project_id"`
	Limits    map[string]int `json:"limits"`
}

// GetID implements model.Object.
func (q *Quota) GetID() string { return q.ProjectID }

// GetProjectID implements model.Object.
func (q *Quota) GetProjectID() string { return q.ProjectID }

var quotaKind = &cache.Kind{Name: "quota", New: func() model.Object { return &Quota{} }}

// limit is the project's quota for resource (-1: unlimited).
func (s *Service) limit(project, resource string) int {
	if e, ok := s.cache.Get("quota", project); ok {
		if n, ok := e.Obj.(*Quota).Limits[resource]; ok {
			return n
		}
	}
	if n, ok := s.cfg.DefaultQuotas[resource]; ok {
		return n
	}
	return -1
}

func (s *Service) used(project, resource string) int {
	return len(s.cache.ByIndex(resource, "project", project))
}

// takeQuota enforces resource's quota for a new resource of project: it
// claims a free quota slot numbered below the limit, so that concurrent
// creates (on any server) can never exceed it. The slot is an ordinary
// claim owned by the new resource and goes away with it.
func (s *Service) takeQuota(ch *store.Change, reserved *[]string, resource, project, id string) error {
	limit := s.limit(project, resource)
	if limit < 0 {
		return nil
	}
	used := s.used(project, resource)
	if used >= limit {
		return neutron.OverQuota(resource)
	}
	busy := false
	for i := range limit {
		n := (used + i) % limit
		key := s.store.ClaimKey("quota", resource+"/"+project+"/"+strconv.Itoa(n))
		if _, taken := s.cache.Claim(key); taken {
			continue
		}
		if !s.reserve(reserved, key) {
			busy = true
			continue
		}
		claim(ch, key, resource, id)
		return nil
	}
	if busy {
		return errRetry // slots are held by requests in flight; see how they end
	}
	return neutron.OverQuota(resource)
}

// quotaAllowed enforces a quota action; a project may always read its
// own quota (Neutron checks get_quota only for other projects').
func (s *Service) quotaAllowed(ctx context.Context, action, project string) error {
	c := s.creds(ctx)
	if action == "get_quota" && project == c.ProjectID {
		return nil
	}
	// Neutron's target is the caller's project (quotasv2.validate_policy).
	return s.authorize(c, action, &Quota{ProjectID: c.ProjectID}, nil)
}

// Get implements policy.Target: a quota's only attribute is its project.
func (q *Quota) Get(key string) (string, bool) {
	if key == "project_id" || key == "tenant_id" {
		return q.ProjectID, true
	}
	return "", false
}

// QuotaOf returns the effective quota of project.
func (s *Service) QuotaOf(ctx context.Context, project string) (map[string]int, error) {
	if err := s.quotaAllowed(ctx, "get_quota", project); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, r := range QuotaResources {
		out[r] = s.limit(project, r)
	}
	return out, nil
}

// DefaultQuotaOf returns the configured defaults, as GET
// /quotas/{project}/default shows them: another project's need get_quota.
func (s *Service) DefaultQuotaOf(ctx context.Context, project string) (map[string]int, error) {
	if err := s.quotaAllowed(ctx, "get_quota", project); err != nil {
		return nil, err
	}
	return s.DefaultQuota(), nil
}

// DefaultQuota returns the configured defaults.
func (s *Service) DefaultQuota() map[string]int {
	out := map[string]int{}
	for _, r := range QuotaResources {
		n, ok := s.cfg.DefaultQuotas[r]
		if !ok {
			n = -1
		}
		out[r] = n
	}
	return out
}

// QuotaDetail is one resource's limit and usage.
type QuotaDetail struct {
	Limit    int `json:"limit"`
	Used     int `json:"used"`
	Reserved int `json:"reserved"`
}

// QuotaDetails returns limits and usage of project.
func (s *Service) QuotaDetails(ctx context.Context, project string) (map[string]QuotaDetail, error) {
	q, err := s.QuotaOf(ctx, project)
	if err != nil {
		return nil, err
	}
	out := map[string]QuotaDetail{}
	for r, l := range q {
		out[r] = QuotaDetail{Limit: l, Used: s.used(project, r)}
	}
	return out, nil
}

// Quotas lists the projects with non-default quotas (admin only).
func (s *Service) Quotas(ctx context.Context) ([]map[string]any, error) {
	if err := s.quotaAllowed(ctx, "get_quota", ""); err != nil {
		return nil, err
	}
	var projects []string
	s.cache.List("quota", func(e *cache.Entry) bool {
		projects = append(projects, e.Obj.GetID())
		return true
	})
	out := []map[string]any{}
	for _, p := range projects {
		m := map[string]any{"project_id": p, "tenant_id": p}
		for _, r := range QuotaResources {
			m[r] = s.limit(p, r)
		}
		out = append(out, m)
	}
	return out, nil
}

// SetQuota changes project's limits (admin only).
func (s *Service) SetQuota(ctx context.Context, project string, body Body) (map[string]int, error) {
	if err := s.quotaAllowed(ctx, "update_quota", project); err != nil {
		return nil, err
	}
	limits := map[string]int{}
	for k, raw := range body {
		if !slices.Contains(QuotaResources, k) {
			return nil, neutron.BadRequest("Unrecognized attribute(s) '%s'", k)
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			var str string
			if json.Unmarshal(raw, &str) != nil {
				return nil, neutron.InvalidAttribute(k, fmt.Sprintf("'%s' is not an integer", string(raw)))
			}
			n = json.Number(str)
		}
		v, err := strconv.Atoi(n.String())
		if err != nil {
			return nil, neutron.InvalidAttribute(k, fmt.Sprintf("'%s' is not an integer", n))
		}
		if v < -1 {
			return nil, neutron.InvalidAttribute(k, fmt.Sprintf("'%d' should be greater than or equal to -1", v))
		}
		limits[k] = v
	}
	err := s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		ch := &store.Change{}
		q := &Quota{ProjectID: project, Limits: map[string]int{}}
		key := s.store.ResourceKey("quota", project)
		if e, ok := s.cache.Get("quota", project); ok {
			for k, v := range e.Obj.(*Quota).Limits {
				q.Limits[k] = v
			}
			for k, v := range limits {
				q.Limits[k] = v
			}
			ch.Put(key, encode(q), e.ModRev)
		} else {
			q.Limits = limits
			ch.Create(key, encode(q))
		}
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return s.QuotaOf(ctx, project)
}

// ResetQuota returns project to the default quotas (admin only).
func (s *Service) ResetQuota(ctx context.Context, project string) error {
	if err := s.quotaAllowed(ctx, "delete_quota", project); err != nil {
		return err
	}
	return s.commit(ctx, func(_ *[]string) (*store.Change, error) {
		ch := &store.Change{}
		if e, ok := s.cache.Get("quota", project); ok {
			ch.Delete(s.store.ResourceKey("quota", project), e.ModRev)
		}
		return ch, nil
	})
}
