// Package bench is a load generator for Neutron v2.0 APIs. It talks plain
// HTTP, so it can measure spinel as well as any other Neutron endpoint.
//
// Each phase runs a fixed pool of Options.Concurrency workers sharing
// Options.Count operations and records the latency of each operation.
// Everything the run creates is deleted at the end, also when it fails or
// its context is cancelled.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Resource names accepted in Options.Resources.
const (
	ResourceNetwork = "network"
	ResourceSubnet  = "subnet"
	ResourcePort    = "port"
)

// AllResources lists the resources benchmarked by default, in run order.
var AllResources = []string{ResourceNetwork, ResourceSubnet, ResourcePort}

// Defaults of Options.
const (
	DefaultConcurrency = 16
	DefaultCount       = 1000
	// MaxSubnets is the number of distinct /28 CIDRs in 10.200.0.0/16: the
	// subnet phase creates at most this many subnets.
	MaxSubnets = 4096
)

// maxReportErrors is how many distinct errors a Report keeps.
const maxReportErrors = 5

// cleanupTimeout bounds the final cleanup.
const cleanupTimeout = 5 * time.Minute

// Options configures a Run.
type Options struct {
	URL         string        // endpoint root, e.g. http://127.0.0.1:9696 (/v2.0 is appended)
	Token       string        // optional X-Auth-Token
	Keystone    *KeystoneAuth // optional: get a token by Keystone v3 password auth
	ProjectID   string        // optional X-Project-Id header (noauth mode acting as a project)
	Concurrency int           // workers per phase, default 16
	Count       int           // operations per phase, default 1000
	Resources   []string      // subset of "network", "subnet", "port" (default all)
	// ListSize, if > 0, makes the run create ports until this many exist
	// on one network, then time GET /v2.0/ports?network_id=...
	// max(Count/10, 10) times as the op "port list-large".
	ListSize int
}

func (o Options) withDefaults() (Options, error) {
	if o.URL == "" {
		return o, errors.New("bench: no URL")
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("bench: bad URL %q (want http(s)://host:port)", o.URL)
	}
	o.URL = strings.TrimSuffix(strings.TrimRight(o.URL, "/"), "/v2.0")
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Count <= 0 {
		o.Count = DefaultCount
	}
	if o.ListSize < 0 {
		return o, fmt.Errorf("bench: negative list size %d", o.ListSize)
	}
	if len(o.Resources) == 0 {
		o.Resources = AllResources
	}
	for _, r := range o.Resources {
		if !slices.Contains(AllResources, r) {
			return o, fmt.Errorf("bench: unknown resource %q (want network, subnet or port)", r)
		}
	}
	return o, nil
}

// Run benchmarks the Neutron endpoint o.URL. It returns the report of the
// phases that ran, also together with an error when the run failed (for
// example because a setup request failed or ctx was cancelled).
func Run(ctx context.Context, o Options) (*Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &client{
		http:      newHTTPClient(o.Concurrency),
		base:      o.URL,
		token:     o.Token,
		projectID: o.ProjectID,
	}
	defer c.http.CloseIdleConnections()
	if o.Keystone != nil && o.Token == "" {
		tok, err := c.keystoneToken(ctx, o.Keystone)
		if err != nil {
			return nil, err
		}
		c.token = tok
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	b := &bencher{
		o:       o,
		c:       c,
		prefix:  "spinel-bench-" + hex.EncodeToString(rnd[:]),
		report:  &Report{Ops: []OpStats{}, Errors: []string{}},
		created: map[string]string{},
	}
	runErr := b.run(ctx)
	if ctx.Err() == nil {
		mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		b.report.ServerRSSBytes = c.serverRSS(mctx)
		cancel()
	}
	// Clean up with a fresh context: ctx may be cancelled already.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := b.cleanup(cctx); err != nil && runErr == nil {
		runErr = err
	}
	if runErr == nil {
		runErr = ctx.Err()
	}
	return b.report, runErr
}

// bencher is the state of one Run.
type bencher struct {
	o      Options
	c      *client
	prefix string // name prefix of everything created

	mu      sync.Mutex
	report  *Report
	seen    map[string]bool   // distinct error messages seen
	created map[string]string // id -> collection ("networks", ...) not deleted yet
	order   []string          // ids in creation order

	portNet string // setup network of the ports phase (reused by list-large)
}

func (b *bencher) noteErr(err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen == nil {
		b.seen = map[string]bool{}
	}
	if b.seen[msg] || len(b.report.Errors) >= maxReportErrors {
		return
	}
	b.seen[msg] = true
	b.report.Errors = append(b.report.Errors, msg)
}

func (b *bencher) track(coll, id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.created[id]; !ok {
		b.order = append(b.order, id)
	}
	b.created[id] = coll
}

func (b *bencher) untrack(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.created, id)
}

func (b *bencher) run(ctx context.Context) error {
	for _, r := range AllResources {
		if !slices.Contains(b.o.Resources, r) {
			continue
		}
		var err error
		switch r {
		case ResourceNetwork:
			err = b.networks(ctx)
		case ResourceSubnet:
			err = b.subnets(ctx)
		case ResourcePort:
			err = b.ports(ctx)
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if b.o.ListSize > 0 {
		return b.listLarge(ctx)
	}
	return nil
}

// phase runs n operations fn(ctx, i) on Concurrency workers and, when
// name is not empty, adds their statistics to the report. Once ctx is
// cancelled the workers start no new operation, but the operations in
// flight run to completion (bounded by the client timeout): a creation
// the server performed must be seen, so that cleanup deletes it.
func (b *bencher) phase(ctx context.Context, name string, n int, fn func(ctx context.Context, i int) error) OpStats {
	opCtx := context.WithoutCancel(ctx)
	lat := make([]time.Duration, n)
	done := make([]bool, n)
	var next atomic.Int64
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(b.o.Concurrency, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				err := fn(opCtx, i)
				lat[i], done[i] = time.Since(t0), true
				if err != nil {
					errs.Add(1)
					b.noteErr(err)
				}
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	samples := make([]time.Duration, 0, n)
	for i, ok := range done {
		if ok {
			samples = append(samples, lat[i])
		}
	}
	s := summarize(name, samples, int(errs.Load()), wall)
	if name != "" {
		b.mu.Lock()
		b.report.Ops = append(b.report.Ops, s)
		b.mu.Unlock()
	}
	return s
}

type idBody struct {
	ID string `json:"id"`
}

// create POSTs {kind: attrs} to /coll and tracks the new resource.
func (b *bencher) create(ctx context.Context, kind, coll string, attrs map[string]any) (string, error) {
	var out map[string]idBody
	if err := b.c.do(ctx, http.MethodPost, "/"+coll, map[string]any{kind: attrs}, http.StatusCreated, &out); err != nil {
		return "", err
	}
	id := out[kind].ID
	if id == "" {
		return "", fmt.Errorf("POST /%s: no %s.id in the answer", coll, kind)
	}
	b.track(coll, id)
	return id, nil
}

func (b *bencher) show(ctx context.Context, coll, id string) error {
	return b.c.do(ctx, http.MethodGet, "/"+coll+"/"+id, nil, http.StatusOK, nil)
}

func (b *bencher) list(ctx context.Context, path string) error {
	return b.c.do(ctx, http.MethodGet, path, nil, http.StatusOK, nil)
}

func (b *bencher) rename(ctx context.Context, kind, coll, id, name string) error {
	return b.c.do(ctx, http.MethodPut, "/"+coll+"/"+id, map[string]any{kind: map[string]any{"name": name}}, http.StatusOK, nil)
}

func (b *bencher) remove(ctx context.Context, coll, id string) error {
	if err := b.c.do(ctx, http.MethodDelete, "/"+coll+"/"+id, nil, http.StatusNoContent, nil); err != nil {
		return err
	}
	b.untrack(id)
	return nil
}

// crud times show, list, update and delete over the resources in ids.
func (b *bencher) crud(ctx context.Context, kind, coll string, ids []string, listPath string) {
	if len(ids) == 0 {
		return
	}
	n := b.o.Count
	b.phase(ctx, kind+" show", n, func(ctx context.Context, i int) error {
		return b.show(ctx, coll, ids[i%len(ids)])
	})
	b.phase(ctx, kind+" list", n, func(ctx context.Context, i int) error {
		return b.list(ctx, listPath)
	})
	b.phase(ctx, kind+" update", n, func(ctx context.Context, i int) error {
		return b.rename(ctx, kind, coll, ids[i%len(ids)], fmt.Sprintf("%s-%s-%d-u%d", b.prefix, kind, i%len(ids), i))
	})
	b.phase(ctx, kind+" delete", len(ids), func(ctx context.Context, i int) error {
		return b.remove(ctx, coll, ids[i])
	})
}

// createMany times n creations and returns the ids of those that succeeded.
func (b *bencher) createMany(ctx context.Context, op, kind, coll string, n int, attrs func(i int) map[string]any) []string {
	ids := make([]string, n)
	b.phase(ctx, op, n, func(ctx context.Context, i int) error {
		id, err := b.create(ctx, kind, coll, attrs(i))
		ids[i] = id
		return err
	})
	return slices.DeleteFunc(ids, func(s string) bool { return s == "" })
}

func (b *bencher) networks(ctx context.Context) error {
	ids := b.createMany(ctx, "network create", "network", "networks", b.o.Count, func(i int) map[string]any {
		return map[string]any{"name": fmt.Sprintf("%s-net-%d", b.prefix, i), "admin_state_up": true}
	})
	b.crud(ctx, "network", "networks", ids, "/networks?limit=100")
	return nil
}

// setupNetwork creates an untimed network, with a subnet when cidr is set.
func (b *bencher) setupNetwork(ctx context.Context, what, cidr string) (string, error) {
	net, err := b.create(ctx, "network", "networks", map[string]any{"name": b.prefix + "-" + what})
	if err != nil {
		return "", fmt.Errorf("bench: creating the %s setup network: %w", what, err)
	}
	if cidr != "" {
		_, err := b.create(ctx, "subnet", "subnets", map[string]any{
			"name": b.prefix + "-" + what, "network_id": net, "ip_version": 4, "cidr": cidr,
		})
		if err != nil {
			return "", fmt.Errorf("bench: creating the %s setup subnet: %w", what, err)
		}
	}
	return net, nil
}

// subnetCIDR returns the i-th /28 of 10.200.0.0/16 (0 <= i < 4096).
func subnetCIDR(i int) string {
	return fmt.Sprintf("10.200.%d.%d/28", i/16, (i%16)*16)
}

func (b *bencher) subnets(ctx context.Context) error {
	net, err := b.setupNetwork(ctx, "subnets", "")
	if err != nil {
		return err
	}
	n := min(b.o.Count, MaxSubnets)
	ids := b.createMany(ctx, "subnet create", "subnet", "subnets", n, func(i int) map[string]any {
		return map[string]any{
			"name": fmt.Sprintf("%s-subnet-%d", b.prefix, i), "network_id": net,
			"ip_version": 4, "cidr": subnetCIDR(i),
		}
	})
	b.crud(ctx, "subnet", "subnets", ids, "/subnets?network_id="+url.QueryEscape(net))
	return nil
}

func (b *bencher) ensurePortNet(ctx context.Context) (string, error) {
	if b.portNet != "" {
		return b.portNet, nil
	}
	net, err := b.setupNetwork(ctx, "ports", "10.100.0.0/16")
	if err != nil {
		return "", err
	}
	b.portNet = net
	return net, nil
}

func (b *bencher) ports(ctx context.Context) error {
	net, err := b.ensurePortNet(ctx)
	if err != nil {
		return err
	}
	ids := b.createMany(ctx, "port create", "port", "ports", b.o.Count, func(i int) map[string]any {
		return map[string]any{"name": fmt.Sprintf("%s-port-%d", b.prefix, i), "network_id": net}
	})
	b.crud(ctx, "port", "ports", ids, "/ports?network_id="+url.QueryEscape(net)+"&limit=100")
	return nil
}

func (b *bencher) listLarge(ctx context.Context) error {
	net, err := b.ensurePortNet(ctx)
	if err != nil {
		return err
	}
	path := "/ports?network_id=" + url.QueryEscape(net)
	var have struct {
		Ports []idBody `json:"ports"`
	}
	if err := b.c.do(ctx, http.MethodGet, path, nil, http.StatusOK, &have); err != nil {
		return fmt.Errorf("bench: counting ports: %w", err)
	}
	if missing := b.o.ListSize - len(have.Ports); missing > 0 {
		s := b.phase(ctx, "", missing, func(ctx context.Context, i int) error {
			_, err := b.create(ctx, "port", "ports", map[string]any{
				"name": fmt.Sprintf("%s-large-%d", b.prefix, i), "network_id": net,
			})
			return err
		})
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.Errors > 0 {
			return fmt.Errorf("bench: list-large setup: %d of %d port creations failed", s.Errors, missing)
		}
	}
	b.phase(ctx, "port list-large", max(b.o.Count/10, 10), func(ctx context.Context, i int) error {
		return b.list(ctx, path)
	})
	return nil
}

// cleanup deletes, best effort, everything still tracked: ports, then
// subnets, then networks.
func (b *bencher) cleanup(ctx context.Context) error {
	b.mu.Lock()
	byColl := map[string][]string{}
	for _, id := range b.order {
		if coll, ok := b.created[id]; ok {
			byColl[coll] = append(byColl[coll], id)
		}
	}
	b.mu.Unlock()
	var failed atomic.Int64
	for _, coll := range []string{"ports", "subnets", "networks"} {
		ids := byColl[coll]
		if len(ids) == 0 {
			continue
		}
		b.phase(ctx, "", len(ids), func(ctx context.Context, i int) error {
			err := b.remove(ctx, coll, ids[i])
			if isNotFound(err) {
				b.untrack(ids[i])
				return nil
			}
			if err != nil {
				failed.Add(1)
			}
			return err
		})
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("bench: cleanup: %d resources named %s-* could not be deleted", n, b.prefix)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bench: cleanup interrupted: %w", err)
	}
	return nil
}
