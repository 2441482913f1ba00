package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type etcdMember = pb.Member

// Member is one etcd member as the cluster lists it, with its health as
// seen from this process.
type Member struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peer_urls"`
	ClientURLs []string `json:"client_urls"`
	Learner    bool     `json:"is_learner"`
	// Healthy: the member answered a status request, reports no alarms
	// or errors and knows a leader.
	Healthy  bool   `json:"healthy"`
	Leader   bool   `json:"is_leader"`
	Version  string `json:"version,omitempty"`
	DBSize   int64  `json:"db_size,omitempty"`
	RaftTerm uint64 `json:"raft_term,omitempty"`
	Revision int64  `json:"revision,omitempty"`
	// Error says why the member is not healthy.
	Error string `json:"error,omitempty"`
}

// memberTimeout bounds the status request to each member.
const memberTimeout = 2 * time.Second

// Members lists the etcd cluster's members, asking each for its status
// in parallel. It fails only if the member list itself cannot be read.
func (s *Store) Members(ctx context.Context) ([]Member, error) {
	lctx, cancel := context.WithTimeout(ctx, memberTimeout)
	resp, err := s.Client.MemberList(lctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("store: listing etcd members: %w", err)
	}
	out := make([]Member, len(resp.Members))
	var wg sync.WaitGroup
	for i, m := range resp.Members {
		out[i] = Member{ID: fmt.Sprintf("%x", m.ID), Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, Learner: m.IsLearner}
		if len(m.ClientURLs) == 0 {
			out[i].Error = "not started"
			continue
		}
		wg.Add(1)
		go func(mm *Member) {
			defer wg.Done()
			s.memberStatus(ctx, mm)
		}(&out[i])
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *Store) memberStatus(ctx context.Context, m *Member) {
	var errs []string
	for _, u := range m.ClientURLs {
		sctx, cancel := context.WithTimeout(ctx, memberTimeout)
		st, err := s.Client.Status(sctx, u)
		cancel()
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		m.Version, m.DBSize, m.RaftTerm = st.Version, st.DbSize, st.RaftTerm
		m.Revision = st.Header.Revision
		m.Leader = st.Leader != 0 && st.Leader == st.Header.MemberId
		switch {
		case len(st.Errors) > 0:
			m.Error = strings.Join(st.Errors, "; ")
		case st.Leader == 0:
			m.Error = "no leader"
		default:
			m.Healthy = true
		}
		return
	}
	m.Error = strings.Join(errs, "; ")
}

// Leaders returns, for each name given to RunElected anywhere in the
// cluster, the Identity of the process currently leading it.
func (s *Store) Leaders(ctx context.Context) (map[string]string, error) {
	pfx := s.electionKey("")
	resp, err := s.Client.Get(ctx, pfx, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("store: reading elections: %w", err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		// Keys are <prefix>/election/<name>/<lease>; the oldest leads.
		name, _, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), pfx), "/")
		if !ok {
			continue
		}
		if _, seen := out[name]; !seen {
			out[name] = string(kv.Value)
		}
	}
	return out, nil
}

// Unavailable reports whether err means that etcd could not be reached or
// could not serve (no quorum, no leader, a member stopping): the request
// may succeed if retried, and a write may or may not have been applied.
// A cancelled or expired caller context is not counted.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable
	}
	if st, ok := status.FromError(err); ok {
		return st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded
	}
	return false
}
