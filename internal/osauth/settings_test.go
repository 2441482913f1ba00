package osauth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cloudsYAML = `
clouds:
  mycloud:
    auth_type: password
    region_name: RegionYAML
    interface: internal
    cacert: /yaml/ca.pem
    verify: false
    auth:
      auth_url: http://yaml:5000
      username: yaml-user
      password: yaml-pass
      project_name: yaml-project
      user_domain_name: YamlDomain
      project_domain_id: yaml-domain-id
  tokencloud:
    auth_type: token
    auth:
      token: yaml-token
      endpoint: http://net:9696/v2.0/
  noauth:
    auth_type: none
    auth:
      endpoint: http://127.0.0.1:9696
`

func writeClouds(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "clouds.yaml")
	if err := os.WriteFile(f, []byte(cloudsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestResolvePrecedence(t *testing.T) {
	file := writeClouds(t)
	tests := []struct {
		name  string
		flags Settings
		env   map[string]string
		want  Settings
	}{
		{
			name: "clouds.yaml alone",
			env:  map[string]string{"OS_CLOUD": "mycloud"},
			want: Settings{Cloud: "mycloud", AuthType: "password", AuthURL: "http://yaml:5000", Username: "yaml-user",
				Password: "yaml-pass", ProjectName: "yaml-project", UserDomainName: "YamlDomain", ProjectDomainID: "yaml-domain-id",
				RegionName: "RegionYAML", Interface: "internal", CACert: "/yaml/ca.pem", Insecure: true},
		},
		{
			name: "env over clouds.yaml",
			env: map[string]string{"OS_CLOUD": "mycloud", "OS_USERNAME": "env-user", "OS_PASSWORD": "env-pass",
				"OS_REGION_NAME": "RegionEnv", "OS_TENANT_NAME": "env-tenant"},
			want: Settings{Cloud: "mycloud", AuthType: "password", AuthURL: "http://yaml:5000", Username: "env-user",
				Password: "env-pass", ProjectName: "env-tenant", UserDomainName: "YamlDomain", ProjectDomainID: "yaml-domain-id",
				RegionName: "RegionEnv", Interface: "internal", CACert: "/yaml/ca.pem", Insecure: true},
		},
		{
			name:  "flags over env over clouds.yaml",
			flags: Settings{Username: "flag-user", RegionName: "RegionFlag", Cloud: "mycloud"},
			env:   map[string]string{"OS_CLOUD": "other", "OS_USERNAME": "env-user", "OS_REGION_NAME": "RegionEnv", "OS_INTERFACE": "admin"},
			want: Settings{Cloud: "mycloud", AuthType: "password", AuthURL: "http://yaml:5000", Username: "flag-user",
				Password: "yaml-pass", ProjectName: "yaml-project", UserDomainName: "YamlDomain", ProjectDomainID: "yaml-domain-id",
				RegionName: "RegionFlag", Interface: "admin", CACert: "/yaml/ca.pem", Insecure: true},
		},
		{
			name: "env only, no cloud",
			env: map[string]string{"OS_AUTH_URL": "http://k:5000/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p", "OS_PROJECT_ID": "pid",
				"OS_ENDPOINT_TYPE": "publicURL", "OS_URL": "http://net", "OS_TOKEN": "tok", "OS_INSECURE": "true"},
			want: Settings{AuthURL: "http://k:5000/v3", Username: "u", Password: "p", ProjectID: "pid", Interface: "publicURL",
				Endpoint: "http://net", Token: "tok", Insecure: true},
		},
		{
			name: "SPINEL_URL from env",
			env:  map[string]string{"SPINEL_URL": "http://s:9696", "OS_PROJECT_ID": "p1", "SPINEL_ROLES": "reader"},
			want: Settings{URL: "http://s:9696", ProjectID: "p1", Roles: "reader"},
		},
		{
			name:  "authentication asked for on the command line beats SPINEL_URL",
			flags: Settings{AuthURL: "http://k:5000"},
			env:   map[string]string{"SPINEL_URL": "http://s:9696", "OS_USERNAME": "u"},
			want:  Settings{AuthURL: "http://k:5000", Username: "u"},
		},
		{
			name:  "--url beats OS_CLOUD: no clouds.yaml read",
			flags: Settings{URL: "http://flag:9696"},
			env:   map[string]string{"OS_CLOUD": "missing-cloud"},
			want:  Settings{URL: "http://flag:9696", Cloud: "missing-cloud"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(Sources{Flags: tc.flags, Getenv: envOf(tc.env), Files: []string{filepath.Join(t.TempDir(), "absent.yaml"), file}})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestResolveCloudErrors(t *testing.T) {
	file := writeClouds(t)
	_, err := Resolve(Sources{Getenv: envOf(map[string]string{"OS_CLOUD": "nope"}), Files: []string{file}})
	if err == nil || !strings.Contains(err.Error(), `cloud "nope" is not defined in `+file) {
		t.Errorf("unknown cloud: %v", err)
	}
	_, err = Resolve(Sources{Getenv: envOf(map[string]string{"OS_CLOUD": "mycloud"}), Files: []string{"/nonexistent/clouds.yaml"}})
	if err == nil || !strings.Contains(err.Error(), "no clouds.yaml found") {
		t.Errorf("no file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "clouds.yaml")
	os.WriteFile(bad, []byte("clouds: [unclosed"), 0o600)
	if _, err = Resolve(Sources{Flags: Settings{Cloud: "x"}, Getenv: envOf(nil), Files: []string{bad}}); err == nil {
		t.Error("bad yaml accepted")
	}
}

func TestCloudsFilesOrder(t *testing.T) {
	got := CloudsFiles(envOf(map[string]string{"OS_CLIENT_CONFIG_FILE": "/x/c.yaml"}), func() (string, error) { return "/home/u", nil })
	want := []string{"/x/c.yaml", "clouds.yaml", "/home/u/.config/openstack/clouds.yaml", "/etc/openstack/clouds.yaml"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestCloudsTokenAndNoauth(t *testing.T) {
	file := writeClouds(t)
	s, err := Resolve(Sources{Flags: Settings{Cloud: "tokencloud"}, Getenv: envOf(nil), Files: []string{file}})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := s.Mode(); m != "token" || err != nil {
		t.Fatalf("mode %q, %v", m, err)
	}
	sess, err := Connect(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Endpoint != "http://net:9696" || sess.Token != "yaml-token" {
		t.Errorf("token session: %+v", sess)
	}
	req, _ := sess.NewRequest(context.Background(), "GET", "/v2.0/networks", nil)
	if req.URL.String() != "http://net:9696/v2.0/networks" || req.Header.Get("X-Auth-Token") != "yaml-token" {
		t.Errorf("request %s %v", req.URL, req.Header)
	}

	s, err = Resolve(Sources{Flags: Settings{Cloud: "noauth", ProjectID: "p1", Roles: "member"}, Getenv: envOf(nil), Files: []string{file}})
	if err != nil {
		t.Fatal(err)
	}
	sess, err = Connect(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	req, _ = sess.NewRequest(context.Background(), "GET", "/v2.0/ports", nil)
	if !sess.NoAuth || req.URL.String() != "http://127.0.0.1:9696/v2.0/ports" || req.Header.Get("X-Project-Id") != "p1" ||
		req.Header.Get("X-Roles") != "member" || req.Header.Get("X-Auth-Token") != "" {
		t.Errorf("noauth request %s %v", req.URL, req.Header)
	}

	// --url with a token sends the token along.
	sess, err = Connect(context.Background(), Settings{URL: "http://s:9696/", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ = sess.NewRequest(context.Background(), "GET", "/v2.0/ports", nil)
	if req.URL.String() != "http://s:9696/v2.0/ports" || req.Header.Get("X-Auth-Token") != "tok" {
		t.Errorf("url+token request %s %v", req.URL, req.Header)
	}
}

func TestMode(t *testing.T) {
	tests := []struct {
		s       Settings
		want    string
		errWith string
	}{
		{Settings{URL: "http://x"}, "noauth", ""},
		{Settings{AuthType: "none", Endpoint: "http://x"}, "noauth", ""},
		{Settings{AuthType: "none"}, "", "needs an endpoint"},
		{Settings{Token: "t", Endpoint: "http://x"}, "token", ""},
		{Settings{AuthURL: "http://k", Username: "u"}, "keystone", ""},
		{Settings{AuthType: "v3oidcpassword", AuthURL: "http://k"}, "", "not supported"},
		{Settings{}, "", "no credentials"},
	}
	for _, tc := range tests {
		got, err := tc.s.Mode()
		if got != tc.want || (tc.errWith == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.errWith)) {
			t.Errorf("%+v: got %q, %v; want %q, error with %q", tc.s, got, err, tc.want, tc.errWith)
		}
	}
}

func TestKeystoneSettingsChecked(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		s       Settings
		errWith string
	}{
		{Settings{AuthURL: "http://127.0.0.1:1", Username: "u", ProjectName: "p"}, "needs a password"},
		{Settings{AuthURL: "http://127.0.0.1:1", Password: "p", ProjectName: "p"}, "needs a user"},
		{Settings{AuthURL: "http://127.0.0.1:1", Username: "u", Password: "p"}, "a project is needed"},
		{Settings{AuthURL: "http://127.0.0.1:1"}, "no credentials"},
		{Settings{URL: "http://x", CACert: "/nonexistent.pem"}, "cacert"},
	} {
		_, err := Connect(ctx, tc.s)
		if err == nil || !strings.Contains(err.Error(), tc.errWith) {
			t.Errorf("%+v: %v, want an error with %q", tc.s, err, tc.errWith)
		}
	}
}

func TestIdentityRootAndVersion(t *testing.T) {
	for in, want := range map[string]string{"http://k:5000": "http://k:5000/v3", "http://k:5000/v3/": "http://k:5000/v3", "http://k/identity/v3": "http://k/identity/v3"} {
		if got := identityRoot(in); got != want {
			t.Errorf("identityRoot(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"http://n:9696/": "http://n:9696", "http://n:9696/v2.0/": "http://n:9696", "http://n/networking/v2.0": "http://n/networking"} {
		if got := trimVersion(in); got != want {
			t.Errorf("trimVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
