// Package cache is the server's watch cache: an in-memory, indexed copy of
// every resource document and uniqueness claim in etcd, fed by one watch.
// Lists, filters and reads are served from it. Writers wait with WaitFor
// until the cache has seen their own revision, so a client always reads its
// own writes. Cached objects are shared and must never be modified: use
// Entry.Copy to get a private copy.
package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/spinel-net/spinel/internal/model"
)

// Kind describes one resource kind the cache holds.
type Kind struct {
	Name string
	New  func() model.Object
	// Indexes name functions giving the values an object is indexed under.
	Indexes map[string]func(model.Object) []string
}

// Entry is one cached resource.
type Entry struct {
	Kind   *Kind
	Obj    model.Object // shared: read only
	Raw    []byte       // the stored JSON document
	ModRev int64
}

// Copy returns a private, mutable copy of the entry's object.
func (e *Entry) Copy() model.Object {
	o := e.Kind.New()
	if err := json.Unmarshal(e.Raw, o); err != nil {
		panic(fmt.Sprintf("cache: re-decoding cached %s: %v", e.Kind.Name, err))
	}
	return o
}

// Claim is a cached uniqueness claim.
type Claim struct {
	Owner  string
	ModRev int64
}

type kindData struct {
	kind    *Kind
	byID    *btree.BTreeG[*Entry]
	indexes map[string]map[string]map[string]*Entry // index -> value -> id -> entry
}

// Cache is the watch cache. Create it with New and start it with Run.
type Cache struct {
	cli    *clientv3.Client
	prefix string
	log    *slog.Logger

	mu     sync.RWMutex
	kinds  map[string]*kindData
	claims map[string]Claim
	owned  map[string]map[string]bool // owner -> claim keys
	rev    int64
	synced bool
	notify chan struct{} // closed and replaced whenever rev advances

	subsMu sync.Mutex
	subs   []func(Event)

	readyOnce sync.Once
	ready     chan struct{}
	progress  chan struct{}
}

func less(a, b *Entry) bool { return a.Obj.GetID() < b.Obj.GetID() }

// New returns a cache of the given kinds under prefix (the store's prefix).
func New(cli *clientv3.Client, prefix string, kinds []*Kind, log *slog.Logger) *Cache {
	c := &Cache{cli: cli, prefix: prefix, log: log, ready: make(chan struct{}), notify: make(chan struct{}), progress: make(chan struct{}, 1)}
	c.reset(kinds)
	return c
}

func (c *Cache) reset(kinds []*Kind) {
	c.kinds = map[string]*kindData{}
	for _, k := range kinds {
		kd := &kindData{kind: k, byID: btree.NewG(32, less), indexes: map[string]map[string]map[string]*Entry{}}
		for name := range k.Indexes {
			kd.indexes[name] = map[string]map[string]*Entry{}
		}
		c.kinds[k.Name] = kd
	}
	c.claims = map[string]Claim{}
	c.owned = map[string]map[string]bool{}
}

func (c *Cache) kindList() []*Kind {
	out := make([]*Kind, 0, len(c.kinds))
	for _, kd := range c.kinds {
		out = append(out, kd.kind)
	}
	return out
}

// Event is a change to a resource seen by the cache. Old is nil for a
// creation, New is nil for a deletion. After a reload (the first load, or
// a reload because the watch fell behind compaction) every resource is
// reported again with Old nil, and every resource that vanished since the
// previous load is reported deleted.
type Event struct {
	Kind     string
	Old, New model.Object
}

// Subscribe registers fn to be called, in order and from the cache's own
// goroutine, after each batch of changes is applied. fn must not block.
func (c *Cache) Subscribe(fn func(Event)) {
	c.subsMu.Lock()
	defer c.subsMu.Unlock()
	c.subs = append(c.subs, fn)
}

func (c *Cache) publish(evs []Event) {
	c.subsMu.Lock()
	subs := c.subs
	c.subsMu.Unlock()
	for _, ev := range evs {
		for _, fn := range subs {
			fn(ev)
		}
	}
}

// Ready is closed once the initial load is complete.
func (c *Cache) Ready() <-chan struct{} { return c.ready }

// Run loads everything and follows the watch until ctx ends. When the
// watch breaks (its etcd member died, lost its leader, the connection
// dropped) it resumes from the last revision it applied, so no event is
// missed or applied twice; only if that revision has been compacted away
// does it reload everything. It returns only when ctx is done.
func (c *Cache) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	loaded := false
	for {
		var err error
		if !loaded {
			var rev int64
			if rev, err = c.load(ctx); err == nil {
				loaded = true
				c.readyOnce.Do(func() { close(c.ready) })
				err = c.watch(ctx, rev)
			}
		} else {
			rev := c.Rev()
			c.log.Info("watch cache resuming", "rev", rev)
			err = c.watch(ctx, rev)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, rpctypes.ErrCompacted) {
			loaded = false
		}
		if errors.Is(err, errProgressed) {
			backoff = 100 * time.Millisecond
		}
		c.log.Warn("watch cache restarting", "err", err, "reload", !loaded)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// errProgressed marks a watch that broke after delivering something, so
// the next attempt starts with a short backoff again.
var errProgressed = errors.New("cache: watch broke after making progress")

// load reads every key under the prefix at one revision, in pages.
func (c *Cache) load(ctx context.Context) (int64, error) {
	first, err := c.cli.Get(ctx, c.prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("cache: loading: %w", err)
	}
	rev := first.Header.Revision
	type kv struct {
		key, val []byte
		mod      int64
	}
	var all []kv
	key, end := c.prefix+"/", clientv3.GetPrefixRangeEnd(c.prefix+"/")
	for {
		resp, err := c.cli.Get(ctx, key, clientv3.WithRange(end), clientv3.WithRev(rev), clientv3.WithLimit(2000))
		if err != nil {
			return 0, fmt.Errorf("cache: loading at revision %d: %w", rev, err)
		}
		for _, k := range resp.Kvs {
			all = append(all, kv{k.Key, k.Value, k.ModRevision})
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	c.mu.Lock()
	old := c.kinds
	c.reset(c.kindList())
	var evs []Event
	for _, e := range all {
		if ev, ok := c.put(string(e.key), e.val, e.mod); ok {
			evs = append(evs, ev)
		}
	}
	// Resources gone since the previous load (deleted while the watch was
	// away and their events compacted) are reported as deleted.
	for name, okd := range old {
		kd := c.kinds[name]
		okd.byID.Ascend(func(e *Entry) bool {
			if _, still := kd.byID.Get(e); !still {
				evs = append(evs, Event{Kind: name, Old: e.Obj})
			}
			return true
		})
	}
	c.advance(rev)
	c.synced = true
	c.mu.Unlock()
	c.publish(evs)
	c.log.Info("watch cache loaded", "keys", len(all), "rev", rev)
	return rev, nil
}

// watch follows etcd from revision rev+1. Every response advances the
// cache to the revision it proves complete: the last event's revision
// (etcd may stamp a batch of a catching-up watch with a later header
// revision while more events follow) or a progress notification's header.
func (c *Cache) watch(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := c.cli.Watch(wctx, c.prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
	progressed := false
	broke := func(err error) error {
		if progressed {
			return fmt.Errorf("%w: %w", errProgressed, err)
		}
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.progress:
			_ = c.cli.RequestProgress(wctx)
		case resp, ok := <-wch:
			if !ok {
				return broke(errors.New("cache: watch closed"))
			}
			if err := resp.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrCompacted) {
					return fmt.Errorf("cache: watch compacted at %d: %w", resp.CompactRevision, err)
				}
				return broke(fmt.Errorf("cache: watch: %w", err))
			}
			var done int64
			switch {
			case len(resp.Events) > 0:
				done = resp.Events[len(resp.Events)-1].Kv.ModRevision
			case resp.IsProgressNotify():
				done = resp.Header.Revision
			default:
				continue
			}
			progressed = true
			c.mu.Lock()
			var evs []Event
			for _, ev := range resp.Events {
				var e Event
				var ok bool
				if ev.Type == clientv3.EventTypeDelete {
					e, ok = c.del(string(ev.Kv.Key))
				} else {
					e, ok = c.put(string(ev.Kv.Key), ev.Kv.Value, ev.Kv.ModRevision)
				}
				if ok {
					evs = append(evs, e)
				}
			}
			c.advance(done)
			c.mu.Unlock()
			c.publish(evs)
		}
	}
}

// advance must be called with mu held.
func (c *Cache) advance(rev int64) {
	if rev > c.rev {
		c.rev = rev
		close(c.notify)
		c.notify = make(chan struct{})
	}
}

// split parses a key into (section, kind-or-space, rest).
func (c *Cache) split(key string) (section, kind, id string, ok bool) {
	rest, ok := strings.CutPrefix(key, c.prefix+"/")
	if !ok {
		return "", "", "", false
	}
	section, rest, ok = strings.Cut(rest, "/")
	if !ok {
		return "", "", "", false
	}
	kind, id, ok = strings.Cut(rest, "/")
	return section, kind, id, ok
}

// put must be called with mu held. It returns the resource event, if any.
func (c *Cache) put(key string, val []byte, mod int64) (Event, bool) {
	section, kind, id, ok := c.split(key)
	if !ok {
		return Event{}, false
	}
	switch section {
	case "c":
		owner := string(val)
		if old, ok := c.claims[key]; ok && old.Owner != owner {
			delete(c.owned[old.Owner], key)
		}
		c.claims[key] = Claim{Owner: owner, ModRev: mod}
		if c.owned[owner] == nil {
			c.owned[owner] = map[string]bool{}
		}
		c.owned[owner][key] = true
	case "r":
		kd := c.kinds[kind]
		if kd == nil {
			return Event{}, false
		}
		obj := kd.kind.New()
		if err := json.Unmarshal(val, obj); err != nil {
			c.log.Error("undecodable document in etcd", "key", key, "err", err)
			return Event{}, false
		}
		if obj.GetID() != id {
			c.log.Error("document id does not match its key", "key", key, "id", obj.GetID())
			return Event{}, false
		}
		e := &Entry{Kind: kd.kind, Obj: obj, Raw: val, ModRev: mod}
		ev := Event{Kind: kind, New: obj}
		if old, ok := kd.byID.ReplaceOrInsert(e); ok {
			kd.unindex(old)
			ev.Old = old.Obj
		}
		kd.index(e)
		return ev, true
	}
	return Event{}, false
}

// del must be called with mu held. It returns the resource event, if any.
func (c *Cache) del(key string) (Event, bool) {
	section, kind, id, ok := c.split(key)
	if !ok {
		return Event{}, false
	}
	switch section {
	case "c":
		if old, ok := c.claims[key]; ok {
			delete(c.owned[old.Owner], key)
			if len(c.owned[old.Owner]) == 0 {
				delete(c.owned, old.Owner)
			}
			delete(c.claims, key)
		}
	case "r":
		kd := c.kinds[kind]
		if kd == nil {
			return Event{}, false
		}
		probe := &Entry{Obj: idOnly(id)}
		if old, ok := kd.byID.Delete(probe); ok {
			kd.unindex(old)
			return Event{Kind: kind, Old: old.Obj}, true
		}
	}
	return Event{}, false
}

type idOnly string

func (i idOnly) GetID() string        { return string(i) }
func (i idOnly) GetProjectID() string { return "" }

func (kd *kindData) index(e *Entry) {
	for name, fn := range kd.kind.Indexes {
		for _, v := range fn(e.Obj) {
			m := kd.indexes[name][v]
			if m == nil {
				m = map[string]*Entry{}
				kd.indexes[name][v] = m
			}
			m[e.Obj.GetID()] = e
		}
	}
}

func (kd *kindData) unindex(e *Entry) {
	for name, fn := range kd.kind.Indexes {
		for _, v := range fn(e.Obj) {
			if m := kd.indexes[name][v]; m != nil {
				delete(m, e.Obj.GetID())
				if len(m) == 0 {
					delete(kd.indexes[name], v)
				}
			}
		}
	}
}

// Rev is the etcd revision the cache reflects.
func (c *Cache) Rev() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rev
}

// WaitFor blocks until the cache reflects revision rev (or ctx ends).
func (c *Cache) WaitFor(ctx context.Context, rev int64) error {
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	for {
		c.mu.RLock()
		cur, ch := c.rev, c.notify
		c.mu.RUnlock()
		if cur >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ticker.C:
			// The revision may belong to keys outside our prefix; ask etcd
			// for a progress notification to learn the current revision.
			select {
			case c.progress <- struct{}{}:
			default:
			}
		case <-ctx.Done():
			return fmt.Errorf("cache: waiting for revision %d (at %d): %w", rev, cur, ctx.Err())
		}
	}
}

// Get returns the entry of kind with id.
func (c *Cache) Get(kind, id string) (*Entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	kd := c.kinds[kind]
	if kd == nil {
		return nil, false
	}
	return kd.byID.Get(&Entry{Obj: idOnly(id)})
}

// List calls fn for every entry of kind in id order until fn returns
// false. fn runs under the cache's read lock: it must be quick and must not
// call back into the cache.
func (c *Cache) List(kind string, fn func(*Entry) bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if kd := c.kinds[kind]; kd != nil {
		kd.byID.Ascend(fn)
	}
}

// Count returns the number of entries of kind for which match returns true
// (all if match is nil).
func (c *Cache) Count(kind string, match func(*Entry) bool) int {
	n := 0
	c.List(kind, func(e *Entry) bool {
		if match == nil || match(e) {
			n++
		}
		return true
	})
	return n
}

// ByIndex returns the entries of kind indexed under value in the named index.
func (c *Cache) ByIndex(kind, index, value string) []*Entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	kd := c.kinds[kind]
	if kd == nil {
		return nil
	}
	m := kd.indexes[index][value]
	out := make([]*Entry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	return out
}

// Claim returns the claim stored at key.
func (c *Cache) Claim(key string) (Claim, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	cl, ok := c.claims[key]
	return cl, ok
}

// ClaimsOf returns the keys of every claim owned by owner, with their revisions.
func (c *Cache) ClaimsOf(owner string) map[string]int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := map[string]int64{}
	for k := range c.owned[owner] {
		out[k] = c.claims[k].ModRev
	}
	return out
}
