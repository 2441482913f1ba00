package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/spinel-net/spinel/internal/store"
)

// ServerInfo is what each running server publishes about itself, at
// <prefix>/servers/<id> under a lease that dies with the process.
type ServerInfo struct {
	ID        string `json:"id"`
	Hostname  string `json:"hostname"`
	Listen    string `json:"listen"`
	Version   string `json:"version"`
	StartedAt string `json:"started_at"`
	// EtcdMember is the name of the server's embedded etcd member, if any.
	EtcdMember string `json:"etcd_member,omitempty"`
	// Leads lists the singletons the server currently leads. It is not
	// stored: the status endpoint fills it in from the elections.
	Leads []string `json:"leads"`
}

// registryTTL is the lease of a server's record: a server that dies
// without deregistering disappears from the status at most this late.
const registryTTL = 10 // seconds

// newServerID names this process: its host name and a random suffix, so
// that two servers on one host and a restarted server are told apart.
func newServerID() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "spinel"
	}
	b := make([]byte, 3)
	rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}

// version is the module version and VCS revision the binary was built from.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " " + rev + modified
	}
	return v
}

func serversPrefix(st *store.Store) string { return st.Prefix() + "/servers/" }

// registry keeps this server's record in etcd alive.
type registry struct {
	cli    *clientv3.Client
	key    string
	val    string
	log    *slog.Logger
	lastOK atomic.Int64 // unix nanoseconds of the last renewal etcd confirmed
}

// register writes the server's record under a fresh lease and returns
// the registry that keeps it alive (run) and removes it (on ctx's end).
func register(ctx context.Context, st *store.Store, info ServerInfo, log *slog.Logger) (*registry, <-chan *clientv3.LeaseKeepAliveResponse, error) {
	b, err := json.Marshal(info)
	if err != nil {
		return nil, nil, fmt.Errorf("server: registry: %w", err)
	}
	r := &registry{cli: st.Client, key: serversPrefix(st) + info.ID, val: string(b), log: log}
	ka, err := r.put(ctx)
	if err != nil {
		return nil, nil, err
	}
	return r, ka, nil
}

func (r *registry) put(ctx context.Context) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lease, err := r.cli.Grant(gctx, registryTTL)
	if err != nil {
		return nil, fmt.Errorf("server: registry: granting a lease: %w", err)
	}
	if _, err := r.cli.Put(gctx, r.key, r.val, clientv3.WithLease(lease.ID)); err != nil {
		return nil, fmt.Errorf("server: registry: %w", err)
	}
	ka, err := r.cli.KeepAlive(ctx, lease.ID)
	if err != nil {
		return nil, fmt.Errorf("server: registry: %w", err)
	}
	r.lastOK.Store(time.Now().UnixNano())
	return ka, nil
}

// run renews the record until ctx ends, registering again whenever the
// lease is lost (etcd unreachable for longer than its TTL), then deletes
// the record so the server leaves the status at once.
func (r *registry) run(ctx context.Context, ka <-chan *clientv3.LeaseKeepAliveResponse) {
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		r.cli.Delete(dctx, r.key)
		cancel()
	}()
	for {
		for range ka {
			r.lastOK.Store(time.Now().UnixNano())
		}
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("server registration lost; registering again")
		for {
			var err error
			if ka, err = r.put(ctx); err == nil {
				break
			}
			r.log.Warn("server registration", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// healthy reports whether etcd confirmed the registration recently, i.e.
// whether this server can reach a working etcd cluster.
func (r *registry) healthy() bool {
	return time.Since(time.Unix(0, r.lastOK.Load())) < registryTTL*time.Second
}
