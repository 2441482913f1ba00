package ovsdb

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// wireMsg is any JSON-RPC 1.0 message: a request or notification (Method
// set) or a response.
type wireMsg struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
}

// reply is a response delivered to a waiting call.
type reply struct {
	result json.RawMessage
	err    error
}

// pendingCall is a request waiting for its response. If inReader is set, it
// runs in the reader goroutine before the next message is read, so that
// its effects are ordered with notifications (a monitor's initial contents
// before its first update).
type pendingCall struct {
	method   string
	ch       chan reply
	inReader func(result json.RawMessage) error
}

// session is one JSON-RPC connection. A reader goroutine reads messages in
// order: it answers echo requests, hands notifications to notify and
// responses to their calls. The session is dead once done is closed.
type session struct {
	conn   net.Conn
	notify func(method string, params json.RawMessage)

	wmu sync.Mutex // serialises writes

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*pendingCall
	err     error // why the session ended

	done     chan struct{}
	lastRecv atomic.Int64 // unix nanoseconds

	schemas map[string]*Schema // set before the session is published, then read-only
}

func newSession(conn net.Conn, notify func(string, json.RawMessage)) *session {
	s := &session{conn: conn, notify: notify, pending: map[uint64]*pendingCall{}, done: make(chan struct{})}
	s.lastRecv.Store(time.Now().UnixNano())
	go s.readLoop()
	return s
}

// close ends the session with err (the first error wins).
func (s *session) close(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.conn.Close()
}

func (s *session) closeErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *session) readLoop() {
	dec := json.NewDecoder(bufio.NewReaderSize(s.conn, 64<<10))
	var err error
	for {
		var m wireMsg
		if err = dec.Decode(&m); err != nil {
			break
		}
		s.lastRecv.Store(time.Now().UnixNano())
		if m.Method != "" {
			s.handleRequest(&m)
			continue
		}
		s.handleResponse(&m)
	}
	s.close(fmt.Errorf("ovsdb: connection lost: %w", err))
	s.conn.Close()
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	cause := s.err
	s.mu.Unlock()
	for _, pc := range pending {
		pc.ch <- reply{err: fmt.Errorf("%w (%v)", ErrNotConnected, cause)}
	}
	close(s.done)
}

func (s *session) handleRequest(m *wireMsg) {
	switch m.Method {
	case "echo":
		params := m.Params
		if params == nil {
			params = json.RawMessage("[]")
		}
		_ = s.send(wireMsg{ID: m.ID, Result: params, Error: json.RawMessage("null")})
	default:
		if s.notify != nil {
			s.notify(m.Method, m.Params)
		}
		if len(m.ID) > 0 && string(m.ID) != "null" {
			// A request we do not serve.
			errMsg, _ := json.Marshal("unknown method " + m.Method)
			_ = s.send(wireMsg{ID: m.ID, Result: json.RawMessage("null"), Error: errMsg})
		}
	}
}

func (s *session) handleResponse(m *wireMsg) {
	id, err := strconv.ParseUint(string(m.ID), 10, 64)
	if err != nil {
		return // not ours (our ids are integers)
	}
	s.mu.Lock()
	pc := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	if pc == nil {
		return // the caller gave up
	}
	if len(m.Error) > 0 && string(m.Error) != "null" {
		pc.ch <- reply{err: rpcError(pc.method, m.Error)}
		return
	}
	if pc.inReader != nil {
		if err := pc.inReader(m.Result); err != nil {
			pc.ch <- reply{err: err}
			return
		}
	}
	pc.ch <- reply{result: m.Result}
}

// rpcError converts a JSON-RPC error value (a string, or an object with
// "error" and "details") to an *RPCError.
func rpcError(method string, raw json.RawMessage) error {
	e := &RPCError{Method: method}
	var obj struct {
		Error   string `json:"error"`
		Details string `json:"details"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Error != "" {
		e.Err, e.Detail = obj.Error, obj.Details
		return e
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		e.Err = s
		return e
	}
	e.Err = string(raw)
	return e
}

func (s *session) send(m wireMsg) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.conn.Write(data); err != nil {
		s.close(fmt.Errorf("ovsdb: write: %w", err))
		return fmt.Errorf("%w (%v)", ErrNotConnected, err)
	}
	return nil
}

// call sends a request and waits for its response, ctx or the end of the
// session. inReader, if set, is run on the result in the reader goroutine.
func (s *session) call(ctx context.Context, method string, params any, inReader func(json.RawMessage) error) (json.RawMessage, error) {
	p, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("ovsdb: %s: %w", method, err)
	}
	pc := &pendingCall{method: method, ch: make(chan reply, 1), inReader: inReader}
	s.mu.Lock()
	if s.pending == nil {
		cause := s.err
		s.mu.Unlock()
		return nil, fmt.Errorf("%w (%v)", ErrNotConnected, cause)
	}
	s.nextID++
	id := s.nextID
	s.pending[id] = pc
	s.mu.Unlock()
	if err := s.send(wireMsg{ID: json.RawMessage(strconv.FormatUint(id, 10)), Method: method, Params: p}); err != nil {
		s.forget(id)
		return nil, err
	}
	select {
	case r := <-pc.ch:
		return r.result, r.err
	case <-ctx.Done():
		s.forget(id)
		return nil, ctx.Err()
	}
}

func (s *session) forget(id uint64) {
	s.mu.Lock()
	if s.pending != nil {
		delete(s.pending, id)
	}
	s.mu.Unlock()
}

// probe keeps an idle connection checked: after interval without a message
// it sends an echo, and after twice that it drops the connection.
func (s *session) probe(interval time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		idle := time.Since(time.Unix(0, s.lastRecv.Load()))
		switch {
		case idle >= 2*interval:
			s.close(fmt.Errorf("ovsdb: no message for %v: inactivity probe failed", idle.Round(time.Millisecond)))
			return
		case idle >= interval:
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), interval)
				defer cancel()
				_, _ = s.call(ctx, "echo", []any{}, nil)
			}()
		}
	}
}
