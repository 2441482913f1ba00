// Package metadata is the Nova metadata proxy of spinel's hypervisor
// agent (routed-networking brief §5.5). Guests reach
// http://169.254.169.254:80 through their gateway, so their requests
// arrive on the host through their tap. The proxy identifies the instance
// by the tap a connection came in on, never by anything the guest sends
// (neither its source address nor its headers), and forwards the request
// to Nova's metadata API with the headers Nova's handler checks when it
// sits behind a Neutron metadata proxy:
//
//   - X-Instance-ID: the port's device_id;
//   - X-Tenant-ID: the port's project;
//   - X-Instance-ID-Signature: hex HMAC-SHA256 of the instance id keyed
//     with the shared secret (Nova's metadata_proxy_shared_secret);
//   - X-Forwarded-For: the guest's address.
//
// Every header of the same family the guest sent is dropped first, as is
// every header whose name contains an underscore (WSGI servers map "_" and
// "-" to the same CGI variable). The answer is streamed back.
//
// # Transport
//
// The metadata address is held as a /32 on lo, labelled LoLabel so that
// a restarted proxy recognises it and removes it when no tap is served
// any more. It carries no address protocol (IFA_PROTO 0), so the
// dataplane, which owns lo addresses carrying its route protocol (250 by
// default, never below 5) or exactly the label "lo:spinel", never sweeps
// it.
//
// Each served tap gets its own TCP listener on 169.254.169.254:80, bound
// to the tap with SO_BINDTOIFINDEX before bind(2), and its own
// http.Server whose handler knows the tap's port. Sockets bound to
// different devices do not conflict on the same address and port, and the
// kernel delivers a connection only to the listener bound to the device
// its SYN arrived on (the ingress interface, not lo where the address
// lives), and the accepted socket inherits the binding, so its replies
// leave through the same tap. Linux exposes no ingress interface for an
// accepted TCP socket (IP_PKTINFO is for datagrams; IP_PKTOPTIONS reports
// the multicast interface), so a single listener could only tell taps
// apart with help from netfilter (a per-tap mark and tcp_fwmark_accept),
// which would tie the proxy to the firewall's ruleset and a namespace-wide
// sysctl. A listener per tap needs neither.
//
// A device-less listener on port 80 of every address (a web server on
// the hypervisor) would make the per-tap binds fail with EADDRINUSE.
//
// # Namespaces
//
// The proxy works in the network namespace of the thread that calls New:
// its netlink handle, its listeners and its connections to Nova are
// created there, whichever goroutine calls Apply or serves a request. A
// Nova URL naming a host rather than an address is resolved in the
// process's namespace.
package metadata

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/spinel-net/spinel/internal/agentapi"
)

// LoLabel is the IPv4 label of the metadata address the proxy puts on lo.
// It differs from the dataplane's label ("lo:spinel"), which the
// dataplane compares exactly.
const LoLabel = "lo:spinel-md"

// DefaultAddress is where guests reach the metadata service.
var DefaultAddress = netip.MustParseAddrPort("169.254.169.254:80")

// Limits of what one guest may cost the host.
const (
	maxConnsPerTap = 32      // concurrent connections per tap; more wait in the backlog
	maxRequestBody = 1 << 20 // Nova takes at most a password by POST
	maxHeaderBytes = 16 << 10
)

// Config configures a Proxy.
type Config struct {
	// NovaURL is the base URL of Nova's metadata API, for example
	// http://nova-metadata:8775. Request paths are appended to it.
	NovaURL string
	// Secret is Nova's [neutron] metadata_proxy_shared_secret.
	Secret string
	// Address is where guests reach the proxy; default DefaultAddress.
	// IPv4 only.
	Address netip.AddrPort
}

// Proxy is the metadata proxy. Create it with New; Apply may be called
// from any goroutine, calls are serialised.
type Proxy struct {
	cfg       Config
	nova      *url.URL
	log       *slog.Logger
	rp        *httputil.ReverseProxy
	transport *http.Transport

	mu     sync.Mutex
	ns     netns.NsHandle
	h      *netlink.Handle
	taps   map[string]*tapServer // by tap name
	closed bool
}

// identity is what the proxy tells Nova about the guest behind a tap.
type identity struct {
	portID, instanceID, projectID string
}

// tapServer serves one tap.
type tapServer struct {
	tap     string
	ifindex int
	ident   atomic.Pointer[identity]
	srv     *http.Server
	done    chan struct{} // closed when Serve returns
}

// New returns a proxy for the network namespace of the calling thread.
// It changes nothing in the kernel until Apply.
func New(cfg Config, log *slog.Logger) (*Proxy, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "metadata")
	if !cfg.Address.IsValid() {
		cfg.Address = DefaultAddress
	}
	if cfg.Address.Port() == 0 {
		cfg.Address = netip.AddrPortFrom(cfg.Address.Addr(), DefaultAddress.Port())
	}
	if !cfg.Address.Addr().Unmap().Is4() {
		return nil, fmt.Errorf("metadata: address %s: only IPv4 is supported", cfg.Address)
	}
	cfg.Address = netip.AddrPortFrom(cfg.Address.Addr().Unmap(), cfg.Address.Port())
	nova, err := url.Parse(cfg.NovaURL)
	if err != nil {
		return nil, fmt.Errorf("metadata: Nova URL: %w", err)
	}
	if (nova.Scheme != "http" && nova.Scheme != "https") || nova.Host == "" {
		return nil, fmt.Errorf("metadata: Nova URL %q: want http(s)://host[:port][/path]", cfg.NovaURL)
	}
	if cfg.Secret == "" {
		log.Warn("no metadata shared secret: Nova must be configured with an empty one too")
	}

	runtime.LockOSThread()
	ns, err := netns.Get()
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("metadata: current network namespace: %w", err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("metadata: netlink handle: %w", err)
	}
	if err := h.SetSocketTimeout(10 * time.Second); err != nil {
		h.Close()
		ns.Close()
		return nil, fmt.Errorf("metadata: netlink timeout: %w", err)
	}

	p := &Proxy{cfg: cfg, nova: nova, log: log, ns: ns, h: h, taps: map[string]*tapServer{}}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	p.transport = &http.Transport{
		Proxy: nil, // never an environment proxy: Nova is reached directly
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			if nserr := p.inNS(func() { c, err = dialer.DialContext(ctx, network, addr) }); nserr != nil {
				return nil, nserr
			}
			return c, err
		},
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:      p.rewrite,
		Transport:    p.transport,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: p.proxyError,
	}
	return p, nil
}

// Name implements the agent's Programmer.
func (p *Proxy) Name() string { return "metadata" }

// Sign returns the X-Instance-ID-Signature Nova expects for instanceID:
// hex(HMAC-SHA256(secret, instanceID)).
func Sign(secret, instanceID string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(instanceID))
	return hex.EncodeToString(m.Sum(nil))
}

// Apply makes the proxy serve exactly the ports of st whose tap exists,
// and returns them as ready (a port without device_id is served with 404
// and is ready too). A port whose tap is missing is not ready and is not
// an error. The metadata address is on lo while any tap is served.
func (p *Proxy) Apply(st *agentapi.State) (map[string]bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("metadata: closed")
	}

	// The wanted identity of every tap; the first of duplicates wins.
	wanted := map[string]*identity{}
	var order []string
	if st != nil {
		for _, port := range st.Ports {
			tap := port.Tap
			if tap == "" {
				tap = agentapi.TapName(port.ID)
			}
			if prev, dup := wanted[tap]; dup {
				if prev.portID != port.ID {
					p.log.Warn("two ports on one tap; serving the first", "tap", tap, "port", port.ID, "first", prev.portID)
				}
				continue
			}
			wanted[tap] = &identity{portID: port.ID, instanceID: port.DeviceID, projectID: port.ProjectID}
			order = append(order, tap)
		}
	}

	links, err := listLinks(p.h)
	if err != nil {
		return nil, fmt.Errorf("metadata: listing links: %w", err)
	}
	ifindex := map[string]int{}
	lo := 0
	for _, l := range links {
		a := l.Attrs()
		ifindex[a.Name] = a.Index
		if a.Flags&net.FlagLoopback != 0 && lo == 0 {
			lo = a.Index
		}
	}

	// Stop serving taps that are not wanted, are gone or were recreated
	// (a socket stays bound to the old ifindex), or whose server died.
	for tap, ts := range p.taps {
		_, ok := wanted[tap]
		if ok && ifindex[tap] == ts.ifindex && !ts.dead() {
			continue
		}
		p.stop(ts)
		delete(p.taps, tap)
	}

	var errs []error
	serve := false
	for _, tap := range order {
		if ifindex[tap] != 0 {
			serve = true
			break
		}
	}
	addrOK := true
	if lo == 0 {
		errs = append(errs, errors.New("metadata: no loopback interface"))
		addrOK = false
	} else if err := p.syncAddr(lo, serve); err != nil {
		errs = append(errs, err)
		addrOK = false
	}

	ready := map[string]bool{}
	for _, tap := range order {
		id := wanted[tap]
		idx := ifindex[tap]
		if idx == 0 {
			continue // the VM is not started yet
		}
		ts := p.taps[tap]
		if ts == nil {
			if ts, err = p.start(tap, idx, id); err != nil {
				errs = append(errs, fmt.Errorf("metadata: port %s (%s): %w", id.portID, tap, err))
				continue
			}
			p.taps[tap] = ts
		} else if old := ts.ident.Load(); *old != *id {
			ts.ident.Store(id)
			p.log.Info("tap identity changed", "tap", tap, "port", id.portID, "instance", id.instanceID)
		}
		if addrOK {
			ready[id.portID] = true
		}
	}
	return ready, errors.Join(errs...)
}

// Close stops serving every tap. It leaves the metadata address on lo
// (restarts never flush; a new proxy recognises it by its label).
func (p *Proxy) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	for tap, ts := range p.taps {
		p.stop(ts)
		delete(p.taps, tap)
	}
	p.transport.CloseIdleConnections()
	p.h.Close()
	return p.ns.Close()
}

// start opens the listener of one tap and serves it.
func (p *Proxy) start(tap string, ifindex int, id *identity) (*tapServer, error) {
	var (
		ln  net.Listener
		err error
	)
	if nserr := p.inNS(func() { ln, err = listenOnDevice(p.cfg.Address, ifindex) }); nserr != nil {
		return nil, fmt.Errorf("entering network namespace: %w", nserr)
	}
	if err != nil {
		return nil, err
	}
	ts := &tapServer{tap: tap, ifindex: ifindex, done: make(chan struct{})}
	ts.ident.Store(id)
	log := p.log.With("tap", tap)
	ts.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.serve(w, r, ts.ident.Load(), log)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	lim := newLimitListener(ln, maxConnsPerTap)
	go func() {
		defer close(ts.done)
		if err := ts.srv.Serve(lim); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metadata listener failed", "err", err)
		}
	}()
	log.Info("serving metadata", "port", id.portID, "instance", id.instanceID, "ifindex", ifindex, "address", p.cfg.Address)
	return ts, nil
}

// stop closes a tap's listener and its connections.
func (p *Proxy) stop(ts *tapServer) {
	ts.srv.Close()
	<-ts.done
	p.log.Info("stopped serving metadata", "tap", ts.tap, "port", ts.ident.Load().portID)
}

func (ts *tapServer) dead() bool {
	select {
	case <-ts.done:
		return true
	default:
		return false
	}
}

// listenOnDevice listens on addr for connections arriving on the device
// with index ifindex only. The binding is set before bind(2), so several
// such listeners, one per device, share addr. IP_FREEBIND lets the bind
// succeed even if addr is not (yet) local.
func listenOnDevice(addr netip.AddrPort, ifindex int) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			s := int(fd)
			if serr = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			if serr = unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_FREEBIND, 1); serr != nil {
				return
			}
			if serr = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX, ifindex); serr == nil {
				return
			}
			// Kernels before 5.0 lack SO_BINDTOIFINDEX.
			ifc, err := net.InterfaceByIndex(ifindex)
			if err != nil {
				serr = err
				return
			}
			serr = unix.BindToDevice(s, ifc.Name)
		})
		if err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("binding to ifindex %d: %w", ifindex, serr)
		}
		return nil
	}}
	return lc.Listen(context.Background(), "tcp4", addr.String())
}

// syncAddr puts the metadata address on lo (want) or removes it, and
// removes any other address carrying the proxy's label (a previous
// configuration's). Addresses without the label are never touched; an
// equal one that is not the proxy's is used as it is.
func (p *Proxy) syncAddr(lo int, want bool) error {
	link, err := p.h.LinkByIndex(lo)
	if err != nil {
		return fmt.Errorf("metadata: lo: %w", err)
	}
	addrs, err := listAddrs(p.h, link)
	if err != nil {
		return fmt.Errorf("metadata: listing addresses on lo: %w", err)
	}
	target := netip.PrefixFrom(p.cfg.Address.Addr(), 32)
	present := false
	var errs []error
	for _, a := range addrs {
		pfx, ok := ipNetPrefix(a.IPNet)
		if !ok {
			continue
		}
		if pfx == target {
			present = true
		}
		if a.Label != LoLabel || (want && pfx == target) {
			continue
		}
		del := &netlink.Addr{IPNet: a.IPNet, Label: a.Label}
		if err := p.h.AddrDel(link, del); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("metadata: deleting %s from lo: %w", pfx, err))
			continue
		}
		p.log.Info("metadata address removed from lo", "ip", pfx)
	}
	if want && !present {
		add := &netlink.Addr{IPNet: prefixIPNet(target), Label: LoLabel}
		if err := p.h.AddrAdd(link, add); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("metadata: adding %s on lo: %w", target, err))
		} else if err == nil {
			p.log.Info("metadata address added on lo", "ip", target, "label", LoLabel)
		}
	}
	return errors.Join(errs...)
}

// inNS runs f on a locked thread in the proxy's network namespace.
func (p *Proxy) inNS(f func()) error {
	runtime.LockOSThread()
	cur, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer cur.Close()
	if cur.Equal(p.ns) {
		defer runtime.UnlockOSThread()
		f()
		return nil
	}
	if err := netns.Set(p.ns); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer func() {
		if err := netns.Set(cur); err != nil {
			// Leave the thread locked: it is in the wrong namespace and
			// dies with its goroutine.
			p.log.Error("cannot restore the thread's network namespace", "err", err)
			return
		}
		runtime.UnlockOSThread()
	}()
	f()
	return nil
}

// forwarded is what the handler passes to rewrite.
type forwarded struct {
	id    *identity
	guest netip.Addr
}

type forwardedKey struct{}

// serve answers one guest request on the tap of id.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, id *identity, log *slog.Logger) {
	if id == nil || id.instanceID == "" {
		log.Debug("request from a port without instance", "port", portOf(id), "path", r.URL.Path)
		http.NotFound(w, r)
		return
	}
	remote, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		http.Error(w, "bad remote address", http.StatusInternalServerError)
		return
	}
	log.Debug("proxying", "port", id.portID, "instance", id.instanceID, "guest", remote.Addr().Unmap(),
		"method", r.Method, "path", r.URL.Path)
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	ctx := context.WithValue(r.Context(), forwardedKey{}, &forwarded{id: id, guest: remote.Addr().Unmap()})
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

func portOf(id *identity) string {
	if id == nil {
		return ""
	}
	return id.portID
}

// rewrite builds the request to Nova. ReverseProxy has already removed
// hop-by-hop and X-Forwarded-* headers from pr.Out.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	f := pr.In.Context().Value(forwardedKey{}).(*forwarded)
	pr.SetURL(p.nova)
	h := pr.Out.Header
	for name := range h {
		if reservedHeader(name) {
			delete(h, name)
		}
	}
	h.Set("X-Instance-ID", f.id.instanceID)
	h.Set("X-Tenant-ID", f.id.projectID)
	h.Set("X-Instance-ID-Signature", Sign(p.cfg.Secret, f.id.instanceID))
	h.Set("X-Forwarded-For", f.guest.String())
}

// reservedPrefixes are the header families that carry identity to Nova or
// to proxies; a guest's own are dropped.
var reservedPrefixes = []string{"x-instance-", "x-tenant-", "x-metadata-", "x-forwarded-", "x-real-ip", "forwarded"}

// reservedHeader reports whether a guest's header must not reach Nova:
// one of reservedPrefixes, or any name with an underscore, which WSGI
// servers fold onto the same variable as its hyphenated spelling
// (X-Instance_ID is HTTP_X_INSTANCE_ID too).
func reservedHeader(name string) bool {
	if strings.ContainsRune(name, '_') {
		return true
	}
	lower := strings.ToLower(name)
	return slices.ContainsFunc(reservedPrefixes, func(p string) bool { return strings.HasPrefix(lower, p) })
}

// proxyError answers a request Nova could not be asked.
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if errors.Is(err, context.Canceled) {
		// The guest went away.
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	f, _ := r.Context().Value(forwardedKey{}).(*forwarded)
	instance := ""
	if f != nil {
		instance = f.id.instanceID
	}
	p.log.Warn("Nova metadata request failed", "instance", instance, "path", r.URL.Path, "err", err)
	http.Error(w, "metadata service unavailable", http.StatusBadGateway)
}

// limitListener bounds the connections open at once through a listener;
// Accept waits (and the kernel's backlog fills) while the bound is
// reached.
type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// dumpAttempts bounds the retries of a dump the kernel interrupted.
const dumpAttempts = 5

func listLinks(h *netlink.Handle) ([]netlink.Link, error) {
	var (
		links []netlink.Link
		err   error
	)
	for range dumpAttempts {
		if links, err = h.LinkList(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return links, err
}

func listAddrs(h *netlink.Handle, link netlink.Link) ([]netlink.Addr, error) {
	var (
		addrs []netlink.Addr
		err   error
	)
	for range dumpAttempts {
		if addrs, err = h.AddrList(link, netlink.FAMILY_V4); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return addrs, err
}

func ipNetPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones), true
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
