package store

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/spinel-net/spinel/internal/neutron"
)

// Change is a set of writes applied in one etcd transaction. Every write is
// guarded: a create requires the key to be absent, a put or delete requires
// the key to be at the revision the caller read. So either every write of a
// request lands or none does, and two requests claiming the same key can
// never both win.
type Change struct {
	ops  []op
	keys map[string]int // key -> index in ops
}

type op struct {
	key    string
	val    []byte
	del    bool
	expect int64 // 0: must be absent; >0: mod revision it must have; -1: unguarded
}

func (c *Change) add(o op) {
	if c.keys == nil {
		c.keys = map[string]int{}
	}
	if i, ok := c.keys[o.key]; ok {
		// A later write to the same key in one change replaces the earlier
		// one but keeps the first guard (what the caller originally read).
		o.expect = c.ops[i].expect
		c.ops[i] = o
		return
	}
	c.keys[o.key] = len(c.ops)
	c.ops = append(c.ops, o)
}

// Create writes key only if it does not exist.
func (c *Change) Create(key string, val []byte) { c.add(op{key: key, val: val}) }

// Put overwrites key only if it is still at modRev.
func (c *Change) Put(key string, val []byte, modRev int64) {
	c.add(op{key: key, val: val, expect: modRev})
}

// Delete removes key only if it is still at modRev.
func (c *Change) Delete(key string, modRev int64) {
	c.add(op{key: key, del: true, expect: modRev})
}

// Len is the number of writes in the change.
func (c *Change) Len() int { return len(c.ops) }

// Touches reports whether the change writes key.
func (c *Change) Touches(key string) bool { _, ok := c.keys[key]; return ok }

// ConflictError says that the guards of some writes failed: another request
// changed those keys first. Keys lists them with the owner value each
// currently holds (nil if absent). Rev is the etcd revision observed.
type ConflictError struct {
	Keys map[string][]byte
	Rev  int64
}

func (e *ConflictError) Error() string {
	keys := make([]string, 0, len(e.Keys))
	for k := range e.Keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return fmt.Sprintf("store: conflicting writes on %v at revision %d", keys, e.Rev)
}

// errUnavailable is what a client is told when etcd cannot take a write.
var errUnavailable = neutron.Newf(http.StatusServiceUnavailable, "ServiceUnavailable",
	"The state store is unavailable; the request may not have been applied. Please retry.")

// Apply commits c atomically and returns the revision it was committed at.
// When a guard fails nothing is written and the error is a *ConflictError.
// When etcd cannot be reached or has no quorum the error wraps a 503
// *neutron.Error (ServiceUnavailable): the write may or may not have been
// applied, as with any request whose answer is lost.
func (s *Store) Apply(ctx context.Context, c *Change) (int64, error) {
	if len(c.ops) == 0 {
		return 0, nil
	}
	var cmps []clientv3.Cmp
	var then, els []clientv3.Op
	for _, o := range c.ops {
		switch {
		case o.expect == 0:
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(o.key), "=", 0))
		case o.expect > 0:
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(o.key), "=", o.expect))
		}
		if o.expect >= 0 {
			els = append(els, clientv3.OpGet(o.key))
		}
		if o.del {
			then = append(then, clientv3.OpDelete(o.key))
		} else {
			then = append(then, clientv3.OpPut(o.key, string(o.val)))
		}
	}
	resp, err := s.Client.Txn(ctx).If(cmps...).Then(then...).Else(els...).Commit()
	if Unavailable(err) {
		return 0, fmt.Errorf("store: committing %d writes: %w: %w", len(c.ops), errUnavailable, err)
	}
	if err != nil {
		return 0, fmt.Errorf("store: committing %d writes: %w", len(c.ops), err)
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	conflict := &ConflictError{Keys: map[string][]byte{}, Rev: resp.Header.Revision}
	i := 0
	for _, o := range c.ops {
		if o.expect < 0 {
			continue
		}
		r := resp.Responses[i].GetResponseRange()
		i++
		var modRev int64
		var val []byte
		if r != nil && len(r.Kvs) > 0 {
			modRev, val = r.Kvs[0].ModRevision, r.Kvs[0].Value
		}
		if modRev != o.expect {
			conflict.Keys[o.key] = val
		}
	}
	return 0, conflict
}
