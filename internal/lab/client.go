package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/vishvananda/netns"
)

// client talks to the server's API inside the ctl namespace: its
// connections are opened from a thread switched into that namespace, so the
// lab needs no link into the caller's namespace.
type client struct {
	base string
	hc   *http.Client
}

func newClient(ns string) *client {
	tr := &http.Transport{DialContext: nsDialer(ns), DisableKeepAlives: false, MaxIdleConnsPerHost: 4}
	return &client{base: fmt.Sprintf("http://127.0.0.1:%d", apiPort), hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// nsDialer dials from inside the named network namespace. The socket is
// created on a locked OS thread switched into ns; it stays in ns after the
// thread switches back.
func nsDialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			runtime.LockOSThread()
			orig, err := netns.Get()
			if err != nil {
				runtime.UnlockOSThread()
				ch <- res{nil, err}
				return
			}
			defer orig.Close()
			target, err := netns.GetFromName(ns)
			if err != nil {
				runtime.UnlockOSThread()
				ch <- res{nil, fmt.Errorf("namespace %s: %w", ns, err)}
				return
			}
			defer target.Close()
			if err := netns.Set(target); err != nil {
				runtime.UnlockOSThread()
				ch <- res{nil, err}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if netns.Set(orig) == nil {
				runtime.UnlockOSThread()
			} // else: the goroutine exits locked and the runtime drops the thread
			ch <- res{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

func (c *client) do(ctx context.Context, method, path string, body any) (int, map[string]any, error) {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, nil
}

// create POSTs {key: body} to /v2.0/kind and returns the created object.
func (c *client) create(ctx context.Context, kind, key string, body map[string]any) (map[string]any, error) {
	code, m, err := c.do(ctx, "POST", "/v2.0/"+kind, map[string]any{key: body})
	if err != nil {
		return nil, fmt.Errorf("POST /v2.0/%s: %w", kind, err)
	}
	if code != http.StatusCreated {
		return nil, fmt.Errorf("POST /v2.0/%s %v: %d %v", kind, body, code, m)
	}
	obj, _ := m[key].(map[string]any)
	if obj == nil {
		return nil, fmt.Errorf("POST /v2.0/%s: no %q in answer %v", kind, key, m)
	}
	return obj, nil
}

func id(m map[string]any) string { return str(m["id"]) }

func str(v any) string {
	s, _ := v.(string)
	return s
}
