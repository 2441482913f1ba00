// Package client tests the spinel client commands (network, subnet, port,
// security-group, security-group-rule, quota) against a real in-process
// spinel server, by running the command line and reading what it prints.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/spinel-net/spinel/internal/cli"
	"github.com/spinel-net/spinel/internal/testserver"
)

// clientEnv lists the variables the client reads; tests clear them so
// that the machine's environment cannot leak in.
var clientEnv = []string{"SPINEL_URL", "SPINEL_ROLES", "OS_CLOUD", "OS_AUTH_TYPE", "OS_AUTH_URL", "OS_USERNAME", "OS_USER_ID",
	"OS_PASSWORD", "OS_PROJECT_NAME", "OS_TENANT_NAME", "OS_PROJECT_ID", "OS_TENANT_ID", "OS_USER_DOMAIN_NAME", "OS_USER_DOMAIN_ID",
	"OS_PROJECT_DOMAIN_NAME", "OS_PROJECT_DOMAIN_ID", "OS_REGION_NAME", "OS_INTERFACE", "OS_ENDPOINT_TYPE", "OS_CACERT",
	"OS_TOKEN", "OS_ENDPOINT", "OS_URL", "OS_INSECURE", "OS_CLIENT_CONFIG_FILE", "OS_IDENTITY_API_VERSION"}

func clearEnv(t *testing.T) {
	t.Helper()
	for _, k := range clientEnv {
		t.Setenv(k, "")
	}
}

// client runs commands against one server in noauth mode.
type client struct {
	t     *testing.T
	url   string
	extra []string // flags added to every command (e.g. --os-project-id)
}

func newClient(t *testing.T) *client {
	t.Helper()
	clearEnv(t)
	srv := testserver.Start(t)
	return &client{t: t, url: srv.URL}
}

// as returns a client acting as project (noauth X-Project-Id).
func (c *client) as(project string) *client {
	return &client{t: c.t, url: c.url, extra: []string{"--os-project-id", project}}
}

// run runs the command line and returns what it printed and its error.
func run(args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	err := cli.ExecuteIO(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

// run runs a client command with --url (and the client's extra flags).
func (c *client) run(args ...string) (string, string, error) {
	return run(append(append(args, "--url", c.url), c.extra...)...)
}

// ok runs a command that must succeed and returns its output.
func (c *client) ok(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("spinel %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// fail runs a command that must fail with an error containing want.
func (c *client) fail(want string, args ...string) error {
	c.t.Helper()
	out, _, err := c.run(args...)
	if err == nil {
		c.t.Fatalf("spinel %s succeeded, want an error with %q; printed:\n%s", strings.Join(args, " "), want, out)
	}
	if !strings.Contains(err.Error(), want) {
		c.t.Fatalf("spinel %s: error %q, want it to contain %q", strings.Join(args, " "), err, want)
	}
	return err
}

// obj runs a show/create/set command with -f json and decodes the object.
func (c *client) obj(args ...string) map[string]any {
	c.t.Helper()
	out := c.ok(append(args, "-f", "json")...)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		c.t.Fatalf("spinel %s: output is not a JSON object: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

// rows runs a list command with -f json and decodes the rows.
func (c *client) rows(args ...string) []map[string]any {
	c.t.Helper()
	out := c.ok(append(args, "-f", "json")...)
	var m []map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		c.t.Fatalf("spinel %s: output is not a JSON list: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

// yamlObj runs a command with -f yaml and decodes the object.
func (c *client) yamlObj(args ...string) map[string]any {
	c.t.Helper()
	out := c.ok(append(args, "-f", "yaml")...)
	var m map[string]any
	if err := yaml.Unmarshal([]byte(out), &m); err != nil {
		c.t.Fatalf("spinel %s: output is not YAML: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

// tableRows parses a table into its rows of trimmed cells (continuation
// lines of multi-line cells are rows of their own).
func tableRows(t *testing.T, out string) [][]string {
	t.Helper()
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.HasPrefix(line, "+") {
			continue
		}
		if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
			t.Fatalf("not a table line: %q in\n%s", line, out)
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	return rows
}

// fieldValues parses a Field/Value table into a map (multi-line values joined by \n).
func fieldValues(t *testing.T, out string) map[string]string {
	t.Helper()
	rows := tableRows(t, out)
	if len(rows) == 0 || rows[0][0] != "Field" || rows[0][1] != "Value" {
		t.Fatalf("not a Field/Value table:\n%s", out)
	}
	m := map[string]string{}
	last := ""
	for _, r := range rows[1:] {
		if r[0] == "" {
			m[last] += "\n" + r[1]
			continue
		}
		last = r[0]
		m[last] = r[1]
	}
	return m
}

// ids returns the "ID" (or key) of each row.
func ids(rows []map[string]any, key string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, str(r[key]))
	}
	return out
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func TestMain(m *testing.M) {
	code := m.Run()
	if ks != nil {
		ks.Close()
	}
	os.Exit(code)
}
