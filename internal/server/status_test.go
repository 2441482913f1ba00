package server_test

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/testserver"
)

func getStatus(t *testing.T, url string, hdr map[string]string) (int, server.Status, map[string]map[string]string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+server.StatusPath, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st server.Status
	var fault map[string]map[string]string
	if resp.StatusCode == 200 {
		err = json.NewDecoder(resp.Body).Decode(&st)
	} else {
		err = json.NewDecoder(resp.Body).Decode(&fault)
	}
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, st, fault
}

func freeURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

// TestStatusListsServersMembersAndLeaders runs two servers on one etcd (the
// first one's embedded member, served on a loopback port) and reads the
// status through the second.
func TestStatusListsServersMembersAndLeaders(t *testing.T) {
	etcdURL := freeURL(t)
	a := testserver.Start(t, func(c *server.Config) { c.Store.ListenClient = etcdURL })
	b := testserver.Start(t, func(c *server.Config) { c.Store.Endpoints = []string{etcdURL}; c.Store.DataDir = "" })

	resp, err := http.Post(a.URL+"/v2.0/networks", "application/json", strings.NewReader(`{"network":{"name":"n"}}`))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create network: %v %v", resp, err)
	}
	resp.Body.Close()

	var st server.Status
	deadline := time.Now().Add(15 * time.Second)
	for {
		var code int
		code, st, _ = getStatus(t, b.URL, nil)
		if code != 200 {
			t.Fatalf("status: HTTP %d", code)
		}
		// b's cache sees a's write a few milliseconds later.
		if (st.Leaders["l3-reconciler"] != "" && st.Resources["network"] == 1) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(st.Servers) != 2 {
		t.Fatalf("servers: %+v", st.Servers)
	}
	byListen := map[string]server.ServerInfo{}
	leads := 0
	for _, s := range st.Servers {
		byListen["http://"+s.Listen] = s
		if len(s.Leads) == 1 && s.Leads[0] == "l3-reconciler" && st.Leaders["l3-reconciler"] == s.ID {
			leads++
		}
		if s.Version == "" || s.StartedAt == "" || s.Hostname == "" {
			t.Errorf("incomplete record %+v", s)
		}
	}
	if leads != 1 {
		t.Errorf("exactly one server must lead the L3 reconciler: %+v, leaders %v", st.Servers, st.Leaders)
	}
	if byListen[a.URL].EtcdMember != "spinel" || byListen[b.URL].EtcdMember != "" {
		t.Errorf("etcd members of the servers: %+v", st.Servers)
	}
	if st.Server != byListen[b.URL].ID {
		t.Errorf("answering server %q, want b (%q)", st.Server, byListen[b.URL].ID)
	}
	if len(st.Etcd.Members) != 1 || !st.Etcd.Members[0].Healthy || !st.Etcd.Members[0].Leader || st.Etcd.Members[0].Name != "spinel" {
		t.Errorf("etcd members: %+v", st.Etcd)
	}
	if st.Resources["network"] != 1 || st.Resources["port"] != 0 || st.Revision == 0 {
		t.Errorf("resources %v at revision %d", st.Resources, st.Revision)
	}

	code, _, fault := getStatus(t, b.URL, map[string]string{"X-Project-Id": "p1", "X-Roles": "member"})
	if code != 403 || fault["NeutronError"]["type"] != "PolicyNotAuthorized" {
		t.Errorf("non-admin status: HTTP %d %v", code, fault)
	}

	// A server that stops leaves the list at once.
	b.Stop()
	_, st, _ = getStatus(t, a.URL, nil)
	if len(st.Servers) != 1 || "http://"+st.Servers[0].Listen != a.URL {
		t.Errorf("after stopping b: %+v", st.Servers)
	}
}
