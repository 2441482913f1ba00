// Package keystonetest runs a real Keystone (Debian's keystone package,
// 22.0 "zed") for tests: SQLite and fernet tokens in a temporary directory,
// served by uwsgi on a loopback port, bootstrapped with keystone-manage and
// populated through Keystone's REST API with the users every spinel
// Keystone test needs:
//
//   - Admin:   the bootstrap admin (roles admin, member, reader in project "admin")
//   - MemberA: role member in project "project-a"
//   - MemberB: role member in project "project-b"
//   - Reader:  role reader in project "project-a"
//   - Service: spinel's own service user (role service in project "service"),
//     whose credentials AuthConfig returns
//
// Starting takes several seconds of CPU: start one Keystone per test
// package, in TestMain, and share it:
//
//	func TestMain(m *testing.M) {
//		k, err := keystonetest.Start(context.Background(), keystonetest.Options{})
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		code := m.Run()
//		k.Close()
//		os.Exit(code)
//	}
//
// Start fails (it never skips) when keystone-manage or uwsgi is missing.
// Nothing outside the temporary directory and the loopback port is touched.
package keystonetest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spinel-net/spinel/internal/auth"
)

// Domain is the domain of every user and project created here.
const Domain = "Default"

// User is a Keystone user and the project its tokens are scoped to.
type User struct {
	Name      string
	ID        string
	Password  string
	Project   string // project name
	ProjectID string
	Roles     []string // roles held in Project (implied roles not listed)
}

// Options changes how Keystone is started.
type Options struct {
	// TokenExpiration is Keystone's token lifetime (default 1 h).
	TokenExpiration time.Duration
}

// Keystone is a running test Keystone.
type Keystone struct {
	// URL is Keystone's public endpoint without /v3, e.g. http://127.0.0.1:41234.
	URL string
	// Dir holds keystone.conf, the SQLite database, the key repositories
	// and keystone.log (Keystone's and uwsgi's output).
	Dir string

	Admin, MemberA, MemberB, Reader, Service User
	// ProjectA and ProjectB are the ids of project-a and project-b.
	ProjectA, ProjectB string

	opts Options
	port int
	http *http.Client

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start sets up and starts a Keystone. Close it when done.
func Start(ctx context.Context, o Options) (_ *Keystone, err error) {
	for _, tool := range []string{"keystone-manage", "uwsgi"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("keystonetest: %s not found: install Debian's keystone package (apt-get install keystone; .ci/run does it)", tool)
		}
	}
	if o.TokenExpiration <= 0 {
		o.TokenExpiration = time.Hour
	}
	dir, err := os.MkdirTemp("", "keystonetest-")
	if err != nil {
		return nil, fmt.Errorf("keystonetest: %w", err)
	}
	k := &Keystone{Dir: dir, opts: o, http: &http.Client{Timeout: 30 * time.Second}}
	defer func() {
		if err != nil {
			k.Close()
		}
	}()
	if k.port, err = freePort(); err != nil {
		return nil, err
	}
	k.URL = "http://127.0.0.1:" + strconv.Itoa(k.port)
	if err := k.writeConfig(); err != nil {
		return nil, err
	}
	if err := k.manage(ctx, "db_sync"); err != nil {
		return nil, err
	}
	if err := k.walMode(ctx); err != nil {
		return nil, err
	}
	k.Admin = User{Name: "admin", Password: "admin-secret", Project: "admin", Roles: []string{"admin"}}
	if err := k.manage(ctx, "bootstrap",
		"--bootstrap-username", k.Admin.Name, "--bootstrap-password", k.Admin.Password,
		"--bootstrap-project-name", k.Admin.Project, "--bootstrap-role-name", "admin",
		"--bootstrap-service-name", "keystone", "--bootstrap-region-id", "RegionOne",
		"--bootstrap-public-url", k.URL+"/v3"); err != nil {
		return nil, err
	}
	if err := k.start(ctx); err != nil {
		return nil, err
	}
	if err := k.populate(ctx); err != nil {
		return nil, fmt.Errorf("keystonetest: creating projects and users: %w%s", err, k.logTail())
	}
	return k, nil
}

// AuthConfig returns the settings under which spinel validates tokens
// against this Keystone as the Service user (cache settings left zero:
// set CacheTime as the test needs).
func (k *Keystone) AuthConfig() auth.KeystoneConfig {
	return auth.KeystoneConfig{
		URL:               k.URL + "/v3",
		Username:          k.Service.Name,
		Password:          k.Service.Password,
		ProjectName:       k.Service.Project,
		UserDomainName:    Domain,
		ProjectDomainName: Domain,
	}
}

// Env returns the OS_* variables under which the openstack CLI (or
// gophercloud's env helpers) authenticates as u.
func (k *Keystone) Env(u User) []string {
	return []string{
		"OS_AUTH_TYPE=password",
		"OS_AUTH_URL=" + k.URL + "/v3",
		"OS_IDENTITY_API_VERSION=3",
		"OS_USERNAME=" + u.Name,
		"OS_PASSWORD=" + u.Password,
		"OS_PROJECT_NAME=" + u.Project,
		"OS_USER_DOMAIN_NAME=" + Domain,
		"OS_PROJECT_DOMAIN_NAME=" + Domain,
		"OS_REGION_NAME=RegionOne",
		"OS_INTERFACE=public",
	}
}

// Stop stops Keystone (SIGTERM, then SIGKILL after 10 s), keeping its
// data: Restart brings it back on the same URL with the same users and
// keys, so tokens issued before stay valid.
func (k *Keystone) Stop() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cmd == nil {
		return nil
	}
	pid := k.cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGTERM) // uwsgi's process group: master and workers
	select {
	case <-k.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-k.done
	}
	// Workers may outlive the master by a moment; make sure none keeps the port.
	syscall.Kill(-pid, syscall.SIGKILL)
	k.cmd = nil
	return nil
}

// Restart starts a stopped Keystone again on the same port.
func (k *Keystone) Restart(ctx context.Context) error {
	if err := k.Stop(); err != nil {
		return err
	}
	return k.start(ctx)
}

// Close stops Keystone and removes its directory (kept when the
// environment has KEYSTONETEST_KEEP=1, for reading keystone.log).
func (k *Keystone) Close() error {
	err := k.Stop()
	if k.Dir != "" && os.Getenv("KEYSTONETEST_KEEP") != "1" {
		err = errors.Join(err, os.RemoveAll(k.Dir))
	}
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("keystonetest: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeConfig writes keystone.conf and the three fernet key repositories.
func (k *Keystone) writeConfig() error {
	conf := fmt.Sprintf(`[DEFAULT]
use_stderr = true
[database]
connection = sqlite:///%[1]s/keystone.db
[token]
provider = fernet
expiration = %[2]d
[fernet_tokens]
key_repository = %[1]s/fernet-keys
[fernet_receipts]
key_repository = %[1]s/receipt-keys
[credential]
key_repository = %[1]s/credential-keys
[identity]
# Tests only: cheap password hashes keep authentication fast.
password_hash_rounds = 4
`, k.Dir, int(k.opts.TokenExpiration.Seconds()))
	if err := os.WriteFile(filepath.Join(k.Dir, "keystone.conf"), []byte(conf), 0o600); err != nil {
		return fmt.Errorf("keystonetest: %w", err)
	}
	// What keystone-manage fernet_setup and credential_setup would write:
	// a staged key "0" and a primary key "1", each 32 random bytes in
	// URL-safe base64 (the Fernet key format).
	for _, repo := range []string{"fernet-keys", "receipt-keys", "credential-keys"} {
		d := filepath.Join(k.Dir, repo)
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("keystonetest: %w", err)
		}
		for _, name := range []string{"0", "1"} {
			var key [32]byte
			rand.Read(key[:])
			if err := os.WriteFile(filepath.Join(d, name), []byte(base64.URLEncoding.EncodeToString(key[:])), 0o600); err != nil {
				return fmt.Errorf("keystonetest: %w", err)
			}
		}
	}
	return nil
}

// manage runs keystone-manage with this Keystone's configuration.
func (k *Keystone) manage(ctx context.Context, args ...string) error {
	full := append([]string{"--config-file", filepath.Join(k.Dir, "keystone.conf")}, args...)
	cmd := exec.CommandContext(ctx, "keystone-manage", full...)
	cmd.Env = k.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("keystonetest: keystone-manage %s: %w\n%s", args[0], err, tail(string(out), 3000))
	}
	return nil
}

// walMode switches the database to write-ahead logging (a setting kept in
// the file). Keystone leaves read transactions open until its connections
// are garbage collected; in SQLite's default journal mode such a reader
// blocks every write ("database is locked"), in WAL mode it does not.
func (k *Keystone) walMode(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "python3", "-c",
		"import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode=WAL').fetchone()[0])",
		filepath.Join(k.Dir, "keystone.db"))
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "wal" {
		return fmt.Errorf("keystonetest: setting WAL mode: %v: %s", err, out)
	}
	return nil
}

func (k *Keystone) env() []string {
	return append(os.Environ(), "OS_KEYSTONE_CONFIG_DIR="+k.Dir, "OS_KEYSTONE_CONFIG_FILES=keystone.conf")
}

// start runs uwsgi serving keystone-wsgi-public and waits until it answers.
func (k *Keystone) start(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(filepath.Join(k.Dir, "keystone.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("keystonetest: %w", err)
	}
	defer logf.Close()
	wsgi, err := exec.LookPath("keystone-wsgi-public")
	if err != nil {
		return fmt.Errorf("keystonetest: keystone-wsgi-public not found: install Debian's keystone package: %w", err)
	}
	cmd := exec.Command("uwsgi",
		"--plugin", "python3,http",
		"--http", "127.0.0.1:"+strconv.Itoa(k.port), "--http-keepalive",
		"--wsgi-file", wsgi,
		// One single-threaded worker: with several, Keystone's SQLite
		// connections end up "database is locked" or used across threads.
		"--master", "--processes", "1",
		"--lazy-apps", "--need-app", "--die-on-term", "--no-orphans",
		"--buffer-size", "65535", "--disable-logging")
	cmd.Dir = k.Dir
	cmd.Env = k.env()
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group (Stop signals it whole); killed if the test dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("keystonetest: starting uwsgi: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	k.cmd, k.done = cmd, done

	deadline := time.Now().Add(90 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, k.URL+"/v3", nil)
		resp, err := k.http.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			k.cmd = nil
			return fmt.Errorf("keystonetest: uwsgi exited at start%s", k.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("keystonetest: keystone did not answer on %s in 90 s%s", k.URL, k.logTail())
		}
	}
}

// logTail returns the end of keystone.log for error messages.
func (k *Keystone) logTail() string {
	b, err := os.ReadFile(filepath.Join(k.Dir, "keystone.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	return "\nkeystone.log:\n" + tail(string(b), 3000)
}

func tail(s string, n int) string {
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}
