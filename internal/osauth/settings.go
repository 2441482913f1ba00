// Package osauth finds and authenticates a client's connection to the
// network API the way the openstack CLI does: settings come from
// command-line flags, then OS_* environment variables, then a clouds.yaml
// entry (flags win); a session is either a noauth server addressed
// directly, a token at a given endpoint, or Keystone v3 authentication
// (password or token) with the network endpoint taken from the catalog.
package osauth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Settings are a client's connection settings. Empty fields are unset.
type Settings struct {
	// URL is a noauth spinel server's root (--url, SPINEL_URL). When set,
	// nothing is authenticated: requests go to URL as they are, with
	// X-Project-Id (ProjectID) and X-Roles (Roles) when those are set.
	URL   string
	Roles string // X-Roles in noauth mode, comma-separated

	Cloud    string // entry of clouds.yaml (--os-cloud, OS_CLOUD)
	AuthType string // password, v3password, token, v3token, none, noauth; empty: inferred

	AuthURL           string // Keystone, with or without /v3
	Username          string
	UserID            string
	Password          string
	ProjectName       string
	ProjectID         string
	UserDomainName    string
	UserDomainID      string
	ProjectDomainName string
	ProjectDomainID   string
	RegionName        string
	Interface         string // public (default), internal, admin
	CACert            string // PEM file of the CAs to trust
	Insecure          bool   // do not verify TLS certificates

	Token    string // an existing token (OS_TOKEN)
	Endpoint string // the network API's root, overriding the catalog (OS_ENDPOINT, OS_URL)
}

// Sources are where Resolve reads settings from.
type Sources struct {
	Flags  Settings               // from the command line; wins over everything
	Getenv func(string) string    // nil: os.Getenv
	Files  []string               // clouds.yaml candidates; nil: CloudsFiles(Getenv)
	Home   func() (string, error) // nil: os.UserHomeDir (for CloudsFiles)
}

// envNames maps each setting to its environment variables, first found wins.
var envNames = []struct {
	names []string
	field func(*Settings) *string
}{
	{[]string{"SPINEL_URL"}, func(s *Settings) *string { return &s.URL }},
	{[]string{"SPINEL_ROLES"}, func(s *Settings) *string { return &s.Roles }},
	{[]string{"OS_CLOUD"}, func(s *Settings) *string { return &s.Cloud }},
	{[]string{"OS_AUTH_TYPE"}, func(s *Settings) *string { return &s.AuthType }},
	{[]string{"OS_AUTH_URL"}, func(s *Settings) *string { return &s.AuthURL }},
	{[]string{"OS_USERNAME"}, func(s *Settings) *string { return &s.Username }},
	{[]string{"OS_USER_ID"}, func(s *Settings) *string { return &s.UserID }},
	{[]string{"OS_PASSWORD"}, func(s *Settings) *string { return &s.Password }},
	{[]string{"OS_PROJECT_NAME", "OS_TENANT_NAME"}, func(s *Settings) *string { return &s.ProjectName }},
	{[]string{"OS_PROJECT_ID", "OS_TENANT_ID"}, func(s *Settings) *string { return &s.ProjectID }},
	{[]string{"OS_USER_DOMAIN_NAME"}, func(s *Settings) *string { return &s.UserDomainName }},
	{[]string{"OS_USER_DOMAIN_ID"}, func(s *Settings) *string { return &s.UserDomainID }},
	{[]string{"OS_PROJECT_DOMAIN_NAME"}, func(s *Settings) *string { return &s.ProjectDomainName }},
	{[]string{"OS_PROJECT_DOMAIN_ID"}, func(s *Settings) *string { return &s.ProjectDomainID }},
	{[]string{"OS_REGION_NAME"}, func(s *Settings) *string { return &s.RegionName }},
	{[]string{"OS_INTERFACE", "OS_ENDPOINT_TYPE"}, func(s *Settings) *string { return &s.Interface }},
	{[]string{"OS_CACERT"}, func(s *Settings) *string { return &s.CACert }},
	{[]string{"OS_TOKEN"}, func(s *Settings) *string { return &s.Token }},
	{[]string{"OS_ENDPOINT", "OS_URL"}, func(s *Settings) *string { return &s.Endpoint }},
}

// FromEnv returns the settings held by the environment.
func FromEnv(getenv func(string) string) Settings {
	var s Settings
	for _, e := range envNames {
		for _, n := range e.names {
			if v := getenv(n); v != "" {
				*e.field(&s) = v
				break
			}
		}
	}
	if v := getenv("OS_INSECURE"); v != "" {
		s.Insecure, _ = strconv.ParseBool(v)
	}
	return s
}

// CloudsFiles returns the clouds.yaml candidates in the openstack CLI's
// order: $OS_CLIENT_CONFIG_FILE, ./clouds.yaml,
// ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml.
func CloudsFiles(getenv func(string) string, home func() (string, error)) []string {
	var files []string
	if f := getenv("OS_CLIENT_CONFIG_FILE"); f != "" {
		files = append(files, f)
	}
	files = append(files, "clouds.yaml")
	if h, err := home(); err == nil && h != "" {
		files = append(files, filepath.Join(h, ".config", "openstack", "clouds.yaml"))
	}
	return append(files, "/etc/openstack/clouds.yaml")
}

// Resolve merges the sources field by field: a flag wins over an
// environment variable, which wins over the clouds.yaml entry named by
// --os-cloud or OS_CLOUD (read from the first candidate file that exists).
// SPINEL_URL from the environment is ignored when the flags name a cloud,
// an auth URL or an endpoint: the command line asked for another server.
func Resolve(src Sources) (Settings, error) {
	getenv := src.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	env := FromEnv(getenv)
	f := src.Flags
	if f.URL == "" && (f.Cloud != "" || f.AuthURL != "" || f.Endpoint != "") {
		env.URL = ""
	}
	out := merge(f, env)
	if out.Cloud != "" && out.URL == "" {
		files := src.Files
		if files == nil {
			home := src.Home
			if home == nil {
				home = os.UserHomeDir
			}
			files = CloudsFiles(getenv, home)
		}
		c, err := LoadCloud(files, out.Cloud)
		if err != nil {
			return Settings{}, err
		}
		out = merge(out, c)
	}
	return out, nil
}

// merge returns a with its unset fields taken from b.
func merge(a, b Settings) Settings {
	for _, e := range envNames {
		if p := e.field(&a); *p == "" {
			*p = *e.field(&b)
		}
	}
	a.Insecure = a.Insecure || b.Insecure
	return a
}

// cloudsFile is the part of clouds.yaml that osauth reads.
type cloudsFile struct {
	Clouds map[string]struct {
		AuthType   string `yaml:"auth_type"`
		RegionName string `yaml:"region_name"`
		Interface  string `yaml:"interface"`
		CACert     string `yaml:"cacert"`
		Verify     *bool  `yaml:"verify"`
		Insecure   *bool  `yaml:"insecure"`
		Auth       struct {
			AuthURL           string `yaml:"auth_url"`
			Username          string `yaml:"username"`
			UserID            string `yaml:"user_id"`
			Password          string `yaml:"password"`
			ProjectName       string `yaml:"project_name"`
			ProjectID         string `yaml:"project_id"`
			TenantName        string `yaml:"tenant_name"`
			TenantID          string `yaml:"tenant_id"`
			UserDomainName    string `yaml:"user_domain_name"`
			UserDomainID      string `yaml:"user_domain_id"`
			ProjectDomainName string `yaml:"project_domain_name"`
			ProjectDomainID   string `yaml:"project_domain_id"`
			DomainName        string `yaml:"domain_name"`
			DomainID          string `yaml:"domain_id"`
			Token             string `yaml:"token"`
			Endpoint          string `yaml:"endpoint"`
		} `yaml:"auth"`
		NetworkEndpointOverride string `yaml:"network_endpoint_override"`
	} `yaml:"clouds"`
}

// LoadCloud reads the entry named cloud from the first of files that
// exists. It is an error when none exists or the entry is missing.
func LoadCloud(files []string, cloud string) (Settings, error) {
	for _, name := range files {
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return Settings{}, fmt.Errorf("osauth: %w", err)
		}
		var cf cloudsFile
		if err := yaml.Unmarshal(b, &cf); err != nil {
			return Settings{}, fmt.Errorf("osauth: %s: %w", name, err)
		}
		c, ok := cf.Clouds[cloud]
		if !ok {
			return Settings{}, fmt.Errorf("osauth: cloud %q is not defined in %s", cloud, name)
		}
		a := c.Auth
		s := Settings{
			AuthType: c.AuthType, AuthURL: a.AuthURL,
			Username: a.Username, UserID: a.UserID, Password: a.Password,
			ProjectName: first(a.ProjectName, a.TenantName), ProjectID: first(a.ProjectID, a.TenantID),
			UserDomainName: first(a.UserDomainName, a.DomainName), UserDomainID: first(a.UserDomainID, a.DomainID),
			ProjectDomainName: first(a.ProjectDomainName, a.DomainName), ProjectDomainID: first(a.ProjectDomainID, a.DomainID),
			RegionName: c.RegionName, Interface: c.Interface, CACert: c.CACert,
			Token: a.Token, Endpoint: first(c.NetworkEndpointOverride, a.Endpoint),
		}
		s.Insecure = (c.Verify != nil && !*c.Verify) || (c.Insecure != nil && *c.Insecure)
		return s, nil
	}
	return Settings{}, fmt.Errorf("osauth: cloud %q: no clouds.yaml found (looked in %s)", cloud, strings.Join(files, ", "))
}

func first(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
