// Package service holds Neutron's business rules for the core resources:
// validation, defaults, allocation and the one etcd transaction each write
// becomes. It reads current state from the watch cache and writes through
// store.Change, whose guards make every write all-or-nothing and every
// allocation unique; a guard that fails means another request won a race,
// and the request is rebuilt from the (now updated) cache.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/spinel-net/spinel/internal/cache"
	"github.com/spinel-net/spinel/internal/l3"
	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/policy"
	"github.com/spinel-net/spinel/internal/store"
)

// Config holds the operator's settings that shape resources.
type Config struct {
	// DefaultMTU is the MTU of the physical network (global_physnet_mtu).
	DefaultMTU int
	// DefaultNetworkType is given to networks created without provider attributes.
	DefaultNetworkType string
	// BaseMAC is the prefix of generated MAC addresses, e.g. "fa:16:3e:00:00:00".
	BaseMAC string
	// VLANRanges maps each known VLAN physical network to its tenant VLAN
	// range; {0, 0} for a physical network without tenant ranges.
	VLANRanges map[string][2]int
	// FlatNetworks are the physical networks flat networks may use ("*": any).
	FlatNetworks []string
	// VNIRanges are the ranges of geneve/vxlan segmentation ids.
	VNIRanges map[string][2]int
	// DefaultQuotas per resource ("network", "port", ...); -1 is unlimited.
	DefaultQuotas map[string]int
	// Providers are the configured service providers (L3 flavor drivers).
	Providers []l3.Provider
	// AgentDownTime: an agent silent for longer is dead (default 30s).
	AgentDownTime time.Duration
}

// DefaultConfig returns the settings a fresh server uses.
func DefaultConfig() Config {
	return Config{
		DefaultMTU:         1500,
		DefaultNetworkType: "routed",
		BaseMAC:            "fa:16:3e:00:00:00",
		VLANRanges:         map[string][2]int{},
		FlatNetworks:       []string{"*"},
		VNIRanges:          map[string][2]int{"geneve": {1, 65535}, "vxlan": {1, 65535}},
		DefaultQuotas: map[string]int{
			"network": 100, "subnet": 100, "port": 500, "security_group": 10,
			"security_group_rule": 100, "router": 10, "floatingip": 50,
		},
		Providers: []l3.Provider{{ServiceType: l3.ServiceType, Name: "routed", Driver: "routed", Default: true}},
	}
}

// Service implements the API's operations. It is safe for concurrent use.
type Service struct {
	cfg     Config
	store   *store.Store
	cache   *cache.Cache
	log     *slog.Logger
	now     func() time.Time
	kinds   map[string]*Resource
	drivers map[string]l3.Driver // L3 flavor drivers by driver name
	hosts   hostWatch
	policy  *policy.Engine
	ovn     *ovnBinding // set when the ovn network backend is configured

	mu      sync.Mutex
	pending map[string]bool       // claim keys reserved by requests in flight here
	hints   map[string]netip.Addr // per subnet: the address allocated last
}

// New returns a Service over an open store and its cache.
func New(cfg Config, st *store.Store, c *cache.Cache, log *slog.Logger, opts ...Option) *Service {
	s := &Service{cfg: cfg, store: st, cache: c, log: log, now: time.Now, pending: map[string]bool{}, hints: map[string]netip.Addr{}}
	for _, o := range opts {
		o(s)
	}
	if s.policy == nil {
		s.policy = policy.Default()
	}
	if c != nil {
		s.watchHosts()
	}
	s.kinds = s.resources()
	return s
}

// Kinds returns the cache kinds for every resource the service manages.
func Kinds() []*cache.Kind {
	out := []*cache.Kind{quotaKind, natPlanKind, tombstoneKind}
	for _, r := range (&Service{}).resources() {
		out = append(out, r.Kind)
	}
	return out
}

// newID returns a Neutron-style UUID.
func newID() string { return uuid.NewString() }

// errRetry asks commit to rebuild the change after the cache has caught up.
var errRetry = errors.New("service: retry")

// maxAttempts bounds how often a request is rebuilt after losing races.
const maxAttempts = 50

// commit builds a change with build, applies it and waits until the cache
// shows it. If a guard fails (another request changed what build read) it
// waits for the cache to see that write and calls build again, so build
// can report the conflict properly (e.g. an address now taken) or produce a
// fresh change. build may reserve claim keys with s.reserve; they are
// released when commit returns.
func (s *Service) commit(ctx context.Context, build func(reserved *[]string) (*store.Change, error)) error {
	var reserved []string
	defer func() { s.release(reserved) }()
	for attempt := 0; ; attempt++ {
		s.release(reserved)
		reserved = reserved[:0]
		ch, err := build(&reserved)
		if errors.Is(err, errRetry) && attempt < maxAttempts {
			if err := s.backoff(ctx, attempt, s.cache.Rev()+1); err != nil {
				return err
			}
			continue
		}
		if errors.Is(err, errRetry) {
			return neutron.Conflict("Conflict", "The request conflicted with concurrent requests %d times; please retry.", maxAttempts)
		}
		if err != nil {
			return err
		}
		rev, err := s.store.Apply(ctx, ch)
		var conflict *store.ConflictError
		if errors.As(err, &conflict) {
			if attempt >= maxAttempts {
				s.log.Error("giving up after repeated write conflicts", "err", err)
				return neutron.Conflict("Conflict", "The request conflicted with concurrent changes %d times; please retry.", maxAttempts)
			}
			if err := s.backoff(ctx, attempt, conflict.Rev); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("service: %w", err)
		}
		if err := s.cache.WaitFor(ctx, rev); err != nil {
			return fmt.Errorf("service: %w", err)
		}
		return nil
	}
}

func (s *Service) backoff(ctx context.Context, attempt int, rev int64) error {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.cache.WaitFor(wctx, rev); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if attempt > 2 {
		d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// reserve marks claim key as taken by this request if no other request in
// this process holds it; it returns false otherwise.
func (s *Service) reserve(reserved *[]string, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[key] {
		return false
	}
	s.pending[key] = true
	*reserved = append(*reserved, key)
	return true
}

func (s *Service) release(keys []string) {
	if len(keys) == 0 {
		return
	}
	s.mu.Lock()
	for _, k := range keys {
		delete(s.pending, k)
	}
	s.mu.Unlock()
}

// isPending reports whether a request in flight here holds key.
func (s *Service) isPending(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending[key]
}

// owner is the value a claim holds: the resource that owns it.
func owner(kind, id string) []byte { return []byte(kind + "/" + id) }

// encode marshals a resource document for storage.
func encode(obj model.Object) []byte {
	b, err := json.Marshal(obj)
	if err != nil {
		panic(fmt.Sprintf("service: encoding %T: %v", obj, err))
	}
	return b
}

// putNew adds obj as a new document.
func (s *Service) putNew(ch *store.Change, kind string, obj model.Object) {
	model.FillEmpty(obj)
	if t, ok := obj.(model.Tagged); ok && t.Std().RevisionNumber == 0 {
		t.Std().RevisionNumber = 1
	}
	ch.Create(s.store.ResourceKey(kind, obj.GetID()), encode(obj))
}

// putUpdate stores obj over the cached entry e.
func (s *Service) putUpdate(ch *store.Change, e *cache.Entry, obj model.Object) {
	model.FillEmpty(obj)
	ch.Put(s.store.ResourceKey(e.Kind.Name, obj.GetID()), encode(obj), e.ModRev)
}

// deleteWithClaims removes e and every claim it owns.
func (s *Service) deleteWithClaims(ch *store.Change, e *cache.Entry) {
	ch.Delete(s.store.ResourceKey(e.Kind.Name, e.Obj.GetID()), e.ModRev)
	for key, rev := range s.cache.ClaimsOf(string(owner(e.Kind.Name, e.Obj.GetID()))) {
		ch.Delete(key, rev)
	}
}

// claim adds a claim of key for the resource, guarded by absence in etcd.
func claim(ch *store.Change, key, kind, id string) { ch.Create(key, owner(kind, id)) }

// checkIfMatch enforces an If-Match: revision_number=N precondition.
func checkIfMatch(ifMatch *int64, obj model.Object) error {
	if ifMatch == nil {
		return nil
	}
	t, ok := obj.(model.Tagged)
	if !ok {
		return nil
	}
	if rev := t.Std().RevisionNumber; rev != *ifMatch {
		return neutron.PreconditionFailed("Constrained to %d, but current revision is %d", *ifMatch, rev)
	}
	return nil
}

// bump marks an updated resource: new revision and update time.
func (s *Service) bump(obj model.Object) {
	if t, ok := obj.(model.Tagged); ok {
		st := t.Std()
		st.RevisionNumber++
		st.UpdatedAt = s.now().UTC().Format(model.TimeFormat)
	}
}

// setProject fills project_id/tenant_id of a new resource from the body
// or the caller, refusing a mismatch and (for non-admins) another project.
func setProject(id *policy.Creds, present model.Present, projectID, tenantID *string) error {
	p, t := *projectID, *tenantID
	switch {
	case present.Has("project_id") && present.Has("tenant_id") && p != t:
		return neutron.BadRequest("'project_id' and 'tenant_id' do not match")
	case present.Has("project_id"):
	case present.Has("tenant_id"):
		p = t
	default:
		p = id.ProjectID
	}
	if p == "" {
		return neutron.BadRequest("Running without keystone AuthN requires that tenant_id is specified")
	}
	if !id.IsAdmin() && !id.HasRole("advsvc") && p != id.ProjectID {
		return neutron.BadRequest("Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin or advsvc privileges")
	}
	*projectID, *tenantID = p, p
	return nil
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func jsonUnmarshal(raw []byte, v any) error { return json.Unmarshal(raw, v) }

func slicesSort(s []string) { sort.Strings(s) }
