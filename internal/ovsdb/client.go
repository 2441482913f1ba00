package ovsdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"
)

// Client is a connection to one OVSDB server (or, with several endpoints, to
// whichever answers), kept up in the background. It is safe for concurrent
// use.
type Client struct {
	endpoints []endpoint
	opts      Options
	log       *slog.Logger

	monMu sync.Mutex // serialises establishing monitors

	mu        sync.Mutex
	sess      *session      // the established session, nil while disconnected
	connected chan struct{} // closed while connected
	monitors  map[string]*Cache
	nextMon   int
	hooks     []func()
	closed    bool

	stop chan struct{}
	wg   sync.WaitGroup
}

type endpoint struct{ network, addr string }

func (e endpoint) String() string { return e.network + ":" + e.addr }

// parseEndpoints parses "unix:/path", "tcp:host:port" (comma separated).
func parseEndpoints(s string) ([]endpoint, error) {
	var eps []endpoint
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		network, addr, ok := strings.Cut(part, ":")
		if !ok || addr == "" {
			return nil, fmt.Errorf("ovsdb: endpoint %q: want unix:PATH or tcp:HOST:PORT", part)
		}
		switch network {
		case "unix":
		case "tcp":
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return nil, fmt.Errorf("ovsdb: endpoint %q: %w", part, err)
			}
		default:
			return nil, fmt.Errorf("ovsdb: endpoint %q: unsupported transport %q (want unix or tcp)", part, network)
		}
		eps = append(eps, endpoint{network, addr})
	}
	return eps, nil
}

// Dial starts a client for endpoint, "unix:/path" or "tcp:host:port" (or
// several of them separated by commas, tried in turn). It returns at once:
// the connection is made in the background and re-made with backoff
// whenever it drops, until Close. The only error is a malformed endpoint.
func Dial(endpoint string, opts Options) (*Client, error) {
	eps, err := parseEndpoints(endpoint)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(5*time.Second, opts.MinBackoff)
	}
	if opts.InactivityProbe == 0 {
		opts.InactivityProbe = 5 * time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	c := &Client{
		endpoints: eps,
		opts:      opts,
		log:       opts.Logger.With("component", "ovsdb", "endpoint", endpoint),
		connected: make(chan struct{}),
		monitors:  map[string]*Cache{},
		stop:      make(chan struct{}),
	}
	c.wg.Add(1)
	go c.run()
	return c, nil
}

// Close stops the client, closing its connection; pending calls fail.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	s := c.sess
	close(c.stop)
	c.mu.Unlock()
	if s != nil {
		s.close(ErrClosed)
	}
	c.wg.Wait()
	return nil
}

// Connected reports whether the client is connected with its monitors
// established.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess != nil
}

// WaitConnected blocks until the client is connected (monitors
// established) or ctx ends.
func (c *Client) WaitConnected(ctx context.Context) error {
	c.mu.Lock()
	ch := c.connected
	c.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-c.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OnConnect registers f to be called, in its own goroutine, after every
// successful (re)connection once every monitor's Cache holds the server's
// current rows, and at once if the client is connected now.
func (c *Client) OnConnect(f func()) {
	c.mu.Lock()
	c.hooks = append(c.hooks, f)
	now := c.sess != nil
	c.mu.Unlock()
	if now {
		go f()
	}
}

// Schema returns the schema of database db as fetched on the current
// connection; ErrNotConnected while disconnected.
func (c *Client) Schema(db string) (*Schema, error) {
	s, err := c.session()
	if err != nil {
		return nil, err
	}
	if sc := s.schemas[db]; sc != nil {
		return sc, nil
	}
	return nil, fmt.Errorf("ovsdb: no database %q on the server", db)
}

func (c *Client) session() (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.sess == nil {
		return nil, ErrNotConnected
	}
	return c.sess, nil
}

// Transact runs ops atomically in database db, encoding their values with
// db's schema. It fails with ErrNotConnected while disconnected, with an
// encoding error (nothing sent) for a value that does not fit its column,
// with a *TxnError if the server refused the transaction (results are then
// returned too), and with ctx's error if ctx ends first (the transaction
// may or may not have been committed).
func (c *Client) Transact(ctx context.Context, db string, ops ...Operation) ([]OpResult, error) {
	s, err := c.session()
	if err != nil {
		return nil, err
	}
	schema := s.schemas[db]
	if schema == nil {
		return nil, fmt.Errorf("ovsdb: no database %q on the server", db)
	}
	params := make([]any, 0, len(ops)+1)
	params = append(params, db)
	for i, op := range ops {
		w, err := encodeOp(schema, op)
		if err != nil {
			return nil, fmt.Errorf("ovsdb: operation %d (%s %s): %w", i, op.Op, op.Table, err)
		}
		params = append(params, w)
	}
	raw, err := s.call(ctx, "transact", params, nil)
	if err != nil {
		return nil, err
	}
	return decodeResults(schema, ops, raw)
}

func decodeResults(schema *Schema, ops []Operation, raw json.RawMessage) ([]OpResult, error) {
	w, err := decodeJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("ovsdb: transact reply: %w", err)
	}
	arr, ok := w.([]any)
	if !ok {
		return nil, fmt.Errorf("ovsdb: transact reply is not an array: %s", raw)
	}
	results := make([]OpResult, len(arr))
	var firstErr *TxnError
	for i, rw := range arr {
		obj, _ := rw.(map[string]any)
		if obj == nil {
			continue // not executed: an earlier operation failed
		}
		r := &results[i]
		if e, ok := obj["error"].(string); ok {
			r.Error = e
			r.Details, _ = obj["details"].(string)
			if firstErr == nil {
				firstErr = &TxnError{Index: i, Err: r.Error, Details: r.Details}
				if i < len(ops) {
					firstErr.Op = ops[i].Op
				}
			}
			continue
		}
		if n, ok := obj["count"].(json.Number); ok {
			cnt, _ := n.Int64()
			r.Count = int(cnt)
		}
		if u, ok := obj["uuid"]; ok {
			a, err := decodeAtom(BaseType{Type: TypeUUID}, u)
			if err != nil {
				return nil, fmt.Errorf("ovsdb: transact reply: %w", err)
			}
			r.UUID, _ = a.(UUID)
		}
		if rows, ok := obj["rows"].([]any); ok && i < len(ops) {
			ts := schema.Table(ops[i].Table)
			for _, rr := range rows {
				row, err := decodeRow(ts, rr)
				if err != nil {
					return nil, fmt.Errorf("ovsdb: transact reply: %w", err)
				}
				r.Rows = append(r.Rows, row)
			}
		}
	}
	if len(arr) < len(ops) && firstErr == nil {
		return results, fmt.Errorf("ovsdb: transact reply has %d results for %d operations", len(arr), len(ops))
	}
	if firstErr != nil {
		return results, firstErr
	}
	return results, nil
}

// Echo sends an echo request and waits for its reply. Because the client
// applies messages in the order received and ovsdb-server sends the monitor
// updates of a committed transaction before it handles a later request, a
// successful Echo after Transact means every Cache reflects that
// transaction.
func (c *Client) Echo(ctx context.Context) error {
	s, err := c.session()
	if err != nil {
		return err
	}
	_, err = s.call(ctx, "echo", []any{"spinel"}, nil)
	return err
}

// Monitor starts monitoring tables of database db (table → columns; nil or
// empty columns means all) and returns the Cache that replicates them. The
// monitor is re-established on every reconnection. If the client is
// connected, Monitor waits for the initial contents (and fails for an
// unknown database, table or column); otherwise it returns the empty,
// unsynced Cache at once, to be filled on connection.
func (c *Client) Monitor(ctx context.Context, db string, tables map[string][]string) (*Cache, error) {
	if len(tables) == 0 {
		return nil, errors.New("ovsdb: monitor: no tables")
	}
	c.monMu.Lock()
	defer c.monMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.nextMon++
	cache := newCache(db, fmt.Sprintf("m%d", c.nextMon), tables)
	s := c.sess
	c.monitors[cache.id] = cache
	c.mu.Unlock()
	if s == nil {
		return cache, nil
	}
	err := c.establish(ctx, s, cache)
	if err == nil {
		return cache, nil
	}
	select {
	case <-s.done:
		// The connection dropped: the monitor is set up on reconnection.
		return cache, nil
	default:
	}
	c.mu.Lock()
	delete(c.monitors, cache.id)
	c.mu.Unlock()
	return nil, err
}

// establish sends cache's monitor request on s; the initial contents replace
// the cache's rows in the reader goroutine, ahead of any update.
func (c *Client) establish(ctx context.Context, s *session, cache *Cache) error {
	schema := s.schemas[cache.db]
	if schema == nil {
		return fmt.Errorf("ovsdb: monitor: no database %q on the server", cache.db)
	}
	reqs := map[string]any{}
	for t, cols := range cache.columns {
		ts := schema.Table(t)
		if ts == nil {
			return fmt.Errorf("ovsdb: monitor: no table %q in %s", t, cache.db)
		}
		if err := checkColumns(ts, cols); err != nil {
			return fmt.Errorf("ovsdb: monitor %s: %w", t, err)
		}
		req := map[string]any{}
		if len(cols) > 0 {
			req["columns"] = cols
		}
		reqs[t] = req
	}
	_, err := s.call(ctx, "monitor", []any{cache.db, cache.id, reqs}, func(result json.RawMessage) error {
		return cache.reset(schema, result)
	})
	if err != nil {
		return fmt.Errorf("ovsdb: monitor %s: %w", cache.db, err)
	}
	return nil
}

// notify handles notifications in s's reader goroutine.
func (c *Client) notify(s *session, method string, params json.RawMessage) {
	if method != "update" {
		return
	}
	var p []json.RawMessage
	if err := json.Unmarshal(params, &p); err != nil || len(p) != 2 {
		c.log.Warn("malformed update", "op", "monitor", "err", err)
		return
	}
	var id string
	if err := json.Unmarshal(p[0], &id); err != nil {
		return
	}
	c.mu.Lock()
	cache := c.monitors[id]
	c.mu.Unlock()
	if cache == nil {
		return
	}
	if err := cache.update(s.schemas[cache.db], p[1]); err != nil {
		// The replica can no longer be trusted: reconnect and resync.
		c.log.Error("bad monitor update; reconnecting", "op", "monitor", "err", err)
		s.close(err)
	}
}

// run connects, waits for the connection to drop, and reconnects with
// backoff, until Close.
func (c *Client) run() {
	defer c.wg.Done()
	failures := 0
	for i := 0; ; i++ {
		select {
		case <-c.stop:
			return
		default:
		}
		ep := c.endpoints[i%len(c.endpoints)]
		s, err := c.connect(ep)
		if err != nil {
			failures++
			if failures == 1 || failures%20 == 0 {
				c.log.Warn("cannot connect", "op", "connect", "target", ep.String(), "err", err, "attempts", failures)
			}
			if !c.sleep(c.backoff(failures)) {
				return
			}
			continue
		}
		if failures > 0 {
			c.log.Info("connected", "op", "connect", "target", ep.String(), "attempts", failures+1)
		}
		failures = 0
		select {
		case <-s.done:
		case <-c.stop:
			s.close(ErrClosed)
			<-s.done
		}
		c.disconnected(s)
		select {
		case <-c.stop:
			return
		default:
		}
		c.log.Warn("connection lost", "op", "connect", "target", ep.String(), "err", s.closeErr())
		if !c.sleep(c.backoff(0)) {
			return
		}
	}
}

func (c *Client) backoff(failures int) time.Duration {
	d := c.opts.MinBackoff
	for range min(failures, 30) {
		d *= 2
		if d >= c.opts.MaxBackoff {
			d = c.opts.MaxBackoff
			break
		}
	}
	// ±20% jitter so that many clients do not reconnect in step.
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func (c *Client) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stop:
		return false
	}
}

// connect dials ep, fetches the schemas, establishes every monitor and
// publishes the session.
func (c *Client) connect(ep endpoint) (*session, error) {
	conn, err := net.DialTimeout(ep.network, ep.addr, c.opts.DialTimeout)
	if err != nil {
		return nil, err
	}
	var s *session
	s = newSession(conn, func(method string, params json.RawMessage) { c.notify(s, method, params) })
	fail := func(err error) (*session, error) {
		s.close(err)
		<-s.done
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(c.opts.DialTimeout, 10*time.Second))
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			s.close(ErrClosed)
		case <-s.done:
		}
	}()
	raw, err := s.call(ctx, "list_dbs", []any{}, nil)
	if err != nil {
		return fail(err)
	}
	var dbs []string
	if err := json.Unmarshal(raw, &dbs); err != nil {
		return fail(fmt.Errorf("ovsdb: list_dbs: %w", err))
	}
	schemas := map[string]*Schema{}
	for _, db := range dbs {
		raw, err := s.call(ctx, "get_schema", []any{db}, nil)
		if err != nil {
			return fail(err)
		}
		sc, err := ParseSchema(raw)
		if err != nil {
			return fail(err)
		}
		schemas[db] = sc
	}
	s.schemas = schemas
	go s.probe(c.opts.InactivityProbe)

	c.monMu.Lock()
	defer c.monMu.Unlock()
	c.mu.Lock()
	mons := make([]*Cache, 0, len(c.monitors))
	for _, m := range c.monitors {
		mons = append(mons, m)
	}
	c.mu.Unlock()
	for _, m := range mons {
		if err := c.establish(ctx, s, m); err != nil {
			select {
			case <-s.done:
				return fail(err)
			default:
			}
			// The server refuses this monitor (a table or column it
			// does not have): drop it rather than the connection.
			c.log.Error("monitor refused; dropped", "op", "monitor", "db", m.db, "err", err)
			c.mu.Lock()
			delete(c.monitors, m.id)
			c.mu.Unlock()
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fail(ErrClosed)
	}
	c.sess = s
	close(c.connected)
	hooks := append([]func(){}, c.hooks...)
	c.mu.Unlock()
	for _, h := range hooks {
		go h()
	}
	return s, nil
}

// disconnected unpublishes s and marks the caches unsynced.
func (c *Client) disconnected(s *session) {
	c.mu.Lock()
	if c.sess == s {
		c.sess = nil
		c.connected = make(chan struct{})
	}
	mons := make([]*Cache, 0, len(c.monitors))
	for _, m := range c.monitors {
		mons = append(mons, m)
	}
	c.mu.Unlock()
	for _, m := range mons {
		m.unsync()
	}
}
