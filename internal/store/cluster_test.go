package store

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/neutron"
)

func quietLog() *slog.Logger {
	if os.Getenv("SPINEL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// testCerts writes a CA and one certificate for 127.0.0.1 usable as both
// server and client, and returns their paths.
func testCerts(t *testing.T) (cert, key, ca string) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "spinel test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "member"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kDER, _ := x509.MarshalECPrivateKey(k)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("cert.pem", "CERTIFICATE", der), write("key.pem", "EC PRIVATE KEY", kDER), write("ca.pem", "CERTIFICATE", caDER)
}

// startCluster opens n stores, each with its own embedded member of one
// cluster, in parallel (each waits for a quorum).
func startCluster(t *testing.T, n int, tls bool) []*Store {
	t.Helper()
	ports := freePorts(t, 2*n)
	scheme := "http"
	var cert, key, ca string
	if tls {
		scheme = "https"
		cert, key, ca = testCerts(t)
	}
	var initial []string
	for i := range n {
		initial = append(initial, fmt.Sprintf("m%d=%s://127.0.0.1:%d", i, scheme, ports[2*i]))
	}
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		cfg := Config{DataDir: t.TempDir(), UnsafeNoFsync: true, Name: fmt.Sprintf("m%d", i),
			InitialCluster:   strings.Join(initial, ","),
			ListenClientURLs: []string{fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[2*i+1])},
			Identity:         fmt.Sprintf("server-%d", i)}
		if tls {
			cfg.PeerCertFile, cfg.PeerKeyFile, cfg.PeerCAFile = cert, key, ca
			cfg.CertFile, cfg.KeyFile, cfg.CAFile = cert, key, ca
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			stores[i], errs[i] = Open(ctx, cfg, quietLog().With("member", i))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, s := range stores {
				if s != nil {
					s.Close()
				}
			}
			t.Fatalf("member %d: %v", i, err)
		}
	}
	t.Cleanup(func() {
		for _, s := range stores {
			s.Close()
		}
	})
	return stores
}

// stopMember stops s's embedded member as if it had crashed, leaving s's client.
func stopMember(s *Store) {
	s.member.Close()
	s.member = nil
}

// waitEndpoints waits until s's client knows every member's client URL.
func waitEndpoints(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Client.Endpoints()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("endpoints %v: want %d", s.Client.Endpoints(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEmbeddedClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			testClusterFailover(t, tls)
		})
	}
}

func testClusterFailover(t *testing.T, tls bool) {
	stores := startCluster(t, 3, tls)
	ctx := context.Background()
	a, b, c := stores[0], stores[1], stores[2]
	waitEndpoints(t, a, 3)

	ch := &Change{}
	ch.Create(a.ResourceKey("thing", "1"), []byte("one"))
	if _, err := a.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	resp, err := b.Client.Get(ctx, a.ResourceKey("thing", "1"))
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "one" {
		t.Fatalf("read through another member: %v %v", resp, err)
	}

	members, err := c.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaders := 0
	for i, m := range members {
		if m.Name != fmt.Sprintf("m%d", i) || !m.Healthy || len(m.ClientURLs) == 0 {
			t.Errorf("member %d: %+v", i, m)
		}
		if m.Leader {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%d leaders among %+v", leaders, members)
	}

	// Stop a's own member under it: a's client fails over to the others.
	stopMember(a)
	ch = &Change{}
	ch.Create(a.ResourceKey("thing", "2"), []byte("two"))
	deadline := time.Now().Add(15 * time.Second)
	for {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := a.Apply(wctx, ch)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("write after losing the own member: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err = c.Client.Get(ctx, a.ResourceKey("thing", "2"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("write through the failed-over client not seen: %v %v", resp, err)
	}
	members, err = b.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if members[0].Healthy || members[0].Error == "" || !members[1].Healthy || !members[2].Healthy {
		t.Errorf("after stopping m0: %+v", members)
	}
}

func TestElectionMovesWhenLeaderStops(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	stores := startCluster(t, 3, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	leading := map[int]bool{}
	cancels := make([]context.CancelFunc, 3)
	var wg sync.WaitGroup
	for i, s := range stores {
		ictx, icancel := context.WithCancel(ctx)
		cancels[i] = icancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.RunElected(ictx, "job", quietLog(), func(lctx context.Context) error {
				mu.Lock()
				leading[i] = true
				n := len(leading)
				mu.Unlock()
				if n > 1 {
					t.Errorf("two leaders at once: %v", leading)
				}
				<-lctx.Done()
				mu.Lock()
				delete(leading, i)
				mu.Unlock()
				return lctx.Err()
			})
		}()
	}
	defer wg.Wait()
	defer cancel()
	leader := func(not int) int {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			for i := range leading {
				if i != not {
					mu.Unlock()
					return i
				}
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("nobody leads")
		return -1
	}
	first := leader(-1)
	got, err := stores[(first+1)%3].Leaders(ctx)
	if err != nil || got["job"] != fmt.Sprintf("server-%d", first) {
		t.Fatalf("Leaders = %v, %v; want job led by server-%d", got, err, first)
	}
	cancels[first]()
	start := time.Now()
	second := leader(first)
	t.Logf("leadership moved from %d to %d in %v", first, second, time.Since(start))
	got, _ = stores[first].Leaders(ctx)
	if got["job"] != fmt.Sprintf("server-%d", second) {
		t.Fatalf("Leaders = %v, want server-%d", got, second)
	}
}

func TestApplyWithoutQuorumIsUnavailable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	stores := startCluster(t, 3, false)
	stopMember(stores[1])
	stopMember(stores[2])
	ch := &Change{}
	ch.Create(stores[0].ResourceKey("thing", "x"), []byte("x"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := stores[0].Apply(ctx, ch)
	e, ok := neutron.As(err)
	if !ok || e.Status != 503 {
		t.Fatalf("Apply without quorum: %v (want a 503 ServiceUnavailable)", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Apply waited for the caller's deadline: %v", err)
	}
}

func TestClusterConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{DataDir: dir, InitialCluster: "a=http://127.0.0.1:1", Name: "b"}, "no entry for this member"},
		{Config{DataDir: dir, InitialCluster: "a"}, "want name=peer-url"},
		{Config{DataDir: dir, InitialCluster: "spinel=http://127.0.0.1:1", InitialClusterState: "old"}, "want new or existing"},
		{Config{DataDir: dir, InitialClusterState: "existing"}, "needs --etcd-initial-cluster"},
		{Config{DataDir: dir, ListenPeerURLs: []string{"http://127.0.0.1:1"}}, "needs --etcd-initial-cluster"},
		{Config{DataDir: dir, InitialCluster: "spinel=https://127.0.0.1:1"}, "https needs --etcd-peer-cert"},
		{Config{DataDir: dir, InitialCluster: "spinel=http://127.0.0.1:1", ListenClientURLs: []string{"::"}}, "bad URL"},
		{Config{Endpoints: []string{"http://127.0.0.1:1"}, InitialCluster: "spinel=http://127.0.0.1:1"}, "exclude each other"},
		{Config{}, "needs a data directory"},
		{Config{Endpoints: []string{"http://127.0.0.1:1"}, CAFile: "/nonexistent"}, "reading etcd CA"},
	} {
		err := Validate(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
	for _, ok := range []Config{{DataDir: dir}, {DataDir: dir, InitialCluster: "spinel=http://127.0.0.1:1"}, {Endpoints: []string{"http://127.0.0.1:1"}}} {
		if err := Validate(ok); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}
