package client

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spinel-net/spinel/internal/keystonetest"
	"github.com/spinel-net/spinel/internal/testserver"
)

var (
	ksOnce sync.Once
	ks     *keystonetest.Keystone
	ksErr  error
)

// keystone returns the package's Keystone, started on first use (it
// fails, never skips, when Keystone is not installed) and closed by
// TestMain.
func keystone(t *testing.T) *keystonetest.Keystone {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no Keystone")
	}
	ksOnce.Do(func() { ks, ksErr = keystonetest.Start(context.Background(), keystonetest.Options{}) })
	if ksErr != nil {
		t.Fatalf("starting Keystone: %v", ksErr)
	}
	return ks
}

// setEnv sets the variables of an environment list (KEY=VALUE).
func setEnv(t *testing.T, env []string) {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// ksOK runs a client command that must succeed, with whatever the
// environment says.
func ksOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := run(args...)
	if err != nil {
		t.Fatalf("spinel %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func ksFail(t *testing.T, want string, args ...string) {
	t.Helper()
	out, _, err := run(args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("spinel %s: error %v, want one with %q; printed:\n%s", strings.Join(args, " "), err, want, out)
	}
}

func ksObj(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out := ksOK(t, append(args, "-f", "json")...)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("spinel %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

// TestKeystone drives the client against a spinel server that
// authenticates with a real Keystone: credentials from OS_* variables,
// from clouds.yaml and from flags (in that order of precedence, flags
// winning), the network endpoint from Keystone's catalog, tokens given
// directly, project names resolved through Keystone, and the errors of
// bad credentials.
func TestKeystone(t *testing.T) {
	k := keystone(t)
	ctx := context.Background()
	kc := k.AuthConfig()
	srv := testserver.Start(t, testserver.WithKeystone(kc))
	if err := k.RegisterNetworkEndpoint(ctx, srv.URL); err != nil {
		t.Fatal(err)
	}

	// OS_* variables, as openstack CLI users have them.
	clearEnv(t)
	setEnv(t, k.Env(k.MemberA))
	netA := ksObj(t, "network", "create", "net-a")
	if netA["project_id"] != k.ProjectA {
		t.Fatalf("member A's network belongs to %v, want %s", netA["project_id"], k.ProjectA)
	}
	if got := ksOK(t, "network", "list", "-f", "value", "-c", "Name"); got != "net-a\n" {
		t.Errorf("member A lists %q", got)
	}
	// The own project's name resolves without asking Keystone's admin API.
	if got := ksOK(t, "network", "list", "--project", "project-a", "-f", "value", "-c", "Name"); got != "net-a\n" {
		t.Errorf("--project project-a: %q", got)
	}
	// The auth URL without /v3 works too.
	t.Setenv("OS_AUTH_URL", k.URL)
	ksOK(t, "network", "show", "net-a")

	// Member B, from clouds.yaml named by OS_CLOUD: sees nothing of A's.
	dir := t.TempDir()
	clouds := filepath.Join(dir, "clouds.yaml")
	yaml := fmt.Sprintf(`clouds:
  member-b:
    auth_type: password
    region_name: RegionOne
    interface: public
    identity_api_version: 3
    auth:
      auth_url: %s/v3
      username: %s
      password: %s
      project_name: %s
      user_domain_name: %s
      project_domain_name: %s
  wrong-region:
    region_name: Elsewhere
    auth:
      auth_url: %s/v3
      username: %s
      password: %s
      project_name: %s
`, k.URL, k.MemberB.Name, k.MemberB.Password, k.MemberB.Project, keystonetest.Domain, keystonetest.Domain,
		k.URL, k.MemberB.Name, k.MemberB.Password, k.MemberB.Project)
	if err := os.WriteFile(clouds, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	clearEnv(t)
	t.Setenv("OS_CLIENT_CONFIG_FILE", clouds)
	t.Setenv("OS_CLOUD", "member-b")
	if got := ksOK(t, "network", "list"); got != "" {
		t.Errorf("member B lists A's networks:\n%s", got)
	}
	ksFail(t, "no Network found for net-a", "network", "show", "net-a")
	ksFail(t, "no Network found for", "network", "delete", str(netA["id"]))
	netB := ksObj(t, "network", "create", "net-b")
	if netB["project_id"] != k.ProjectB {
		t.Errorf("member B's network belongs to %v, want %s", netB["project_id"], k.ProjectB)
	}
	// Environment variables win over clouds.yaml, flags over both.
	t.Setenv("OS_PASSWORD", "wrong")
	ksFail(t, "Keystone refused authentication", "network", "list")
	ksFail(t, "(HTTP 401)", "network", "list")
	got := ksOK(t, "network", "list", "-f", "value", "-c", "Name", "--os-username", k.MemberA.Name, "--os-password", k.MemberA.Password,
		"--os-project-name", k.MemberA.Project)
	if got != "net-a\n" {
		t.Errorf("flags for member A over clouds.yaml for member B: %q", got)
	}
	t.Setenv("OS_PASSWORD", "")
	// --os-cloud names another entry; its region has no network endpoint.
	ksFail(t, "no network endpoint (interface public, region Elsewhere)", "network", "list", "--os-cloud", "wrong-region")
	ksFail(t, `cloud "nope" is not defined`, "network", "list", "--os-cloud", "nope")

	// A token with the endpoint given (OS_TOKEN + OS_URL).
	clearEnv(t)
	tok, err := k.Token(ctx, k.MemberA)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("OS_TOKEN", tok)
	t.Setenv("OS_URL", srv.URL)
	if got := ksOK(t, "network", "list", "-f", "value", "-c", "Name"); got != "net-a\n" {
		t.Errorf("token + endpoint: %q", got)
	}
	// A token with an auth URL: rescoped through Keystone, endpoint from the catalog.
	t.Setenv("OS_URL", "")
	t.Setenv("OS_AUTH_URL", k.URL+"/v3")
	t.Setenv("OS_PROJECT_NAME", "project-a")
	t.Setenv("OS_PROJECT_DOMAIN_NAME", keystonetest.Domain)
	if got := ksOK(t, "network", "list", "-f", "value", "-c", "Name"); got != "net-a\n" {
		t.Errorf("token + auth URL: %q", got)
	}
	// A token Keystone does not know: spinel's 401.
	t.Setenv("OS_AUTH_URL", "")
	t.Setenv("OS_URL", srv.URL)
	t.Setenv("OS_TOKEN", "not-a-token")
	ksFail(t, "(HTTP 401", "network", "list")

	// The reader may look but not create: Neutron's 403 message.
	clearEnv(t)
	setEnv(t, k.Env(k.Reader))
	if got := ksOK(t, "network", "list", "-f", "value", "-c", "Name"); got != "net-a\n" {
		t.Errorf("reader of A lists %q", got)
	}
	ksFail(t, "(HTTP 403", "network", "create", "nope")

	// The admin names projects by name: resolved through Keystone.
	clearEnv(t)
	setEnv(t, k.Env(k.Admin))
	q := ksObj(t, "quota", "set", "project-b", "--networks", "1")
	if q["project"] != k.ProjectB || q["networks"] != 1.0 {
		t.Errorf("quota set project-b: %v", q)
	}
	if got := ksOK(t, "network", "list", "--project", "project-b", "-f", "value", "-c", "Name"); got != "net-b\n" {
		t.Errorf("admin lists project-b's: %q", got)
	}
	ksFail(t, `no project with a name or id of "no-such-project" exists`, "network", "list", "--project", "no-such-project")
	created := ksObj(t, "network", "create", "for-a", "--project", "project-a")
	if created["project_id"] != k.ProjectA {
		t.Errorf("admin created for project-a in %v", created["project_id"])
	}
	// Member B's quota now holds.
	clearEnv(t)
	setEnv(t, k.Env(k.MemberB))
	ksFail(t, "Quota exceeded for resources: ['network']", "network", "create", "second")
	// A member cannot list projects in Keystone: a clear error naming the way out.
	ksFail(t, "give the project's id instead", "network", "list", "--project", "project-a")
}
