// Package ovntest runs a real OVN control plane for tests: Debian's
// ovn-central binaries (an ovsdb-server for the northbound database, one for
// the southbound and ovn-northd) on unix sockets in a private temporary
// directory, with helpers to drive ovn-nbctl, ovn-sbctl and ovn-trace
// against them and to stop, kill, pause, restart or wipe a database.
//
// Everything is cleaned up by t.Cleanup. A missing binary fails the test
// (CI installs ovn-central); nothing outside the temporary directory is
// touched (OVS_RUNDIR, OVS_LOGDIR and friends point into it).
//
//	o := ovntest.Start(t)                       // NB + SB + ovn-northd
//	client, _ := ovsdb.Dial(o.NB.Endpoint(), ovsdb.Options{})
//	o.NBCtl(t, "ls-list")                        // fails the test on error
//	o.Sync(t)                                    // ovn-nbctl --wait=sb sync
//	o.Trace(t, "neutron-x", "inport == ...")     // ovn-trace --minimal
//	o.NB.Wipe(t)                                 // a fresh, empty NB
//
// For a database alone (the OVSDB client's tests): StartDB(t, dir,
// NBSchema).
package ovntest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Schema files of Debian's ovn-common.
const (
	NBSchema = "/usr/share/ovn/ovn-nb.ovsschema"
	SBSchema = "/usr/share/ovn/ovn-sb.ovsschema"
)

// Need fails t unless every named program is installed.
func Need(t testing.TB, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("ovntest: %s not found: install Debian's ovn-central (and openvswitch-common): %v", p, err)
		}
	}
	for _, f := range []string{NBSchema, SBSchema} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("ovntest: %v: install Debian's ovn-common", err)
		}
	}
}

// TempDir returns a fresh directory with a short path (unix socket paths
// are limited to 107 bytes, which t.TempDir() can exceed), removed on
// cleanup.
func TempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ovn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// env returns the environment for OVS/OVN programs: every runtime, log and
// database directory inside dir.
func env(dir string) []string {
	e := os.Environ()
	for _, k := range []string{"OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR", "OVN_RUNDIR", "OVN_LOGDIR", "OVN_DBDIR", "OVN_SYSCONFDIR"} {
		e = append(e, k+"="+dir)
	}
	return e
}

// DB is one ovsdb-server serving one database file on a unix socket.
type DB struct {
	Name   string // "nb" or "sb": the files' base name
	Dir    string
	Schema string // the .ovsschema it was created from
	File   string // the database file
	Sock   string // the unix socket
	Ctl    string // its unixctl socket
	Log    string // its log file

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartDB creates a database from schema in dir (base name from the schema:
// "nb" or "sb") and starts an ovsdb-server for it; it is stopped on
// cleanup.
func StartDB(t testing.TB, dir, schema string) *DB {
	t.Helper()
	Need(t, "ovsdb-server", "ovsdb-tool")
	name := "db"
	switch schema {
	case NBSchema:
		name = "nb"
	case SBSchema:
		name = "sb"
	}
	d := &DB{
		Name: name, Dir: dir, Schema: schema,
		File: filepath.Join(dir, name+".db"),
		Sock: filepath.Join(dir, name+".sock"),
		Ctl:  filepath.Join(dir, name+".ctl"),
		Log:  filepath.Join(dir, name+".log"),
	}
	if err := d.create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	d.Start(t)
	return d
}

func (d *DB) create() error {
	os.Remove(d.File)
	out, err := exec.Command("ovsdb-tool", "create", d.File, d.Schema).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ovntest: ovsdb-tool create %s: %v: %s", d.File, err, out)
	}
	return nil
}

// Endpoint is the server's address for clients: "unix:<socket>".
func (d *DB) Endpoint() string { return "unix:" + d.Sock }

// Start starts the server on the existing database file and waits until it
// accepts connections.
func (d *DB) Start(t testing.TB) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil {
		t.Fatalf("ovntest: %s already running", d.Name)
	}
	os.Remove(d.Sock)
	cmd := exec.Command("ovsdb-server", d.File,
		"--remote=punix:"+d.Sock, "--unixctl="+d.Ctl,
		"--log-file="+d.Log, "-vconsole:off", "-vfile:info")
	cmd.Env = env(d.Dir)
	cmd.Dir = d.Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("ovntest: start ovsdb-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	if err := waitSocket(d.Sock, exited, 10*time.Second); err != nil {
		cmd.Process.Kill()
		<-exited
		log, _ := os.ReadFile(d.Log)
		t.Fatalf("ovntest: ovsdb-server %s: %v\nstderr: %s\nlog: %s", d.Name, err, stderr.String(), log)
	}
	d.cmd = cmd
	procs.Store(cmd, exited)
}

// procs maps running commands to their exit channels.
var procs sync.Map

func waitSocket(path string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before listening on %s", path)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %v: %v", path, timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// signal sends sig to the server and, unless it is SIGSTOP/SIGCONT, waits
// for it to exit.
func (d *DB) signal(sig syscall.Signal) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(sig)
	if sig == syscall.SIGSTOP || sig == syscall.SIGCONT {
		return
	}
	if sig != syscall.SIGKILL {
		// A stopped process must be continued to act on SIGTERM.
		d.cmd.Process.Signal(syscall.SIGCONT)
	}
	ch, _ := procs.Load(d.cmd)
	select {
	case <-ch.(chan struct{}):
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-ch.(chan struct{})
	}
	procs.Delete(d.cmd)
	d.cmd = nil
}

// Stop terminates the server (SIGTERM) and waits for it; the database file
// stays. Stopping a stopped server does nothing.
func (d *DB) Stop() { d.signal(syscall.SIGTERM) }

// Kill kills the server (SIGKILL) and waits for it.
func (d *DB) Kill() { d.signal(syscall.SIGKILL) }

// Pause freezes the server (SIGSTOP): connections stay open but nothing is
// answered, as with a hung server or a silent network failure.
func (d *DB) Pause() { d.signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (d *DB) Resume() { d.signal(syscall.SIGCONT) }

// Running reports whether the server is running.
func (d *DB) Running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cmd != nil
}

// Restart stops and starts the server on the same file.
func (d *DB) Restart(t testing.TB) {
	t.Helper()
	d.Stop()
	d.Start(t)
}

// Wipe stops the server, deletes the database file, creates an empty one
// from the schema and starts the server again: everything in it is gone.
func (d *DB) Wipe(t testing.TB) {
	t.Helper()
	d.Stop()
	if err := d.create(); err != nil {
		t.Fatal(err)
	}
	d.Start(t)
}

// OVN is a running OVN control plane: NB and SB databases and ovn-northd.
type OVN struct {
	Dir    string
	NB, SB *DB

	mu     sync.Mutex
	northd *exec.Cmd
}

// Start starts NB, SB (initialised as ovn-ctl does, with `ovn-nbctl init`
// and `ovn-sbctl init`) and ovn-northd in a fresh temporary directory; all
// of it is stopped and removed on cleanup.
func Start(t testing.TB) *OVN {
	t.Helper()
	Need(t, "ovsdb-server", "ovsdb-tool", "ovn-northd", "ovn-nbctl", "ovn-sbctl", "ovn-trace")
	dir := TempDir(t)
	o := &OVN{Dir: dir}
	o.NB = StartDB(t, dir, NBSchema)
	o.SB = StartDB(t, dir, SBSchema)
	o.NBCtl(t, "init")
	o.SBCtl(t, "init")
	o.StartNorthd(t)
	t.Cleanup(o.StopNorthd)
	return o
}

// StartNorthd starts ovn-northd (Start does it).
func (o *OVN) StartNorthd(t testing.TB) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.northd != nil {
		return
	}
	cmd := exec.Command("ovn-northd", "--ovnnb-db="+o.NB.Endpoint(), "--ovnsb-db="+o.SB.Endpoint(),
		"--unixctl="+filepath.Join(o.Dir, "northd.ctl"),
		"--log-file="+filepath.Join(o.Dir, "northd.log"), "-vconsole:off", "-vfile:info")
	cmd.Env = env(o.Dir)
	cmd.Dir = o.Dir
	if err := cmd.Start(); err != nil {
		t.Fatalf("ovntest: start ovn-northd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	procs.Store(cmd, exited)
	o.northd = cmd
}

// StopNorthd stops ovn-northd.
func (o *OVN) StopNorthd() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.northd == nil {
		return
	}
	o.northd.Process.Signal(syscall.SIGTERM)
	ch, _ := procs.Load(o.northd)
	select {
	case <-ch.(chan struct{}):
	case <-time.After(10 * time.Second):
		o.northd.Process.Kill()
		<-ch.(chan struct{})
	}
	procs.Delete(o.northd)
	o.northd = nil
}

// run runs an OVN utility with the harness's environment.
func (o *OVN) run(prog string, args ...string) (string, error) {
	cmd := exec.Command(prog, args...)
	cmd.Env = env(o.Dir)
	cmd.Dir = o.Dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", prog, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// NBCtlErr runs ovn-nbctl against the NB database and returns its output.
func (o *OVN) NBCtlErr(args ...string) (string, error) {
	return o.run("ovn-nbctl", append([]string{"--db=" + o.NB.Endpoint(), "--timeout=20"}, args...)...)
}

// NBCtl runs ovn-nbctl and fails t on error.
func (o *OVN) NBCtl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := o.NBCtlErr(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// SBCtlErr runs ovn-sbctl against the SB database and returns its output.
func (o *OVN) SBCtlErr(args ...string) (string, error) {
	return o.run("ovn-sbctl", append([]string{"--db=" + o.SB.Endpoint(), "--timeout=20"}, args...)...)
}

// SBCtl runs ovn-sbctl and fails t on error.
func (o *OVN) SBCtl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := o.SBCtlErr(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Sync waits until ovn-northd has translated the current NB contents into
// SB (ovn-nbctl --wait=sb sync), so that ovn-trace sees them.
func (o *OVN) Sync(t testing.TB) {
	t.Helper()
	o.NBCtl(t, "--wait=sb", "sync")
}

// TraceErr runs ovn-trace against SB with the given options and arguments
// (for example "--minimal", "neutron-<net>", "inport == ... && ...").
func (o *OVN) TraceErr(args ...string) (string, error) {
	return o.run("ovn-trace", append([]string{"--db=" + o.SB.Endpoint()}, args...)...)
}

// Trace runs ovn-trace --minimal for microflow on datapath (a logical
// switch or router name) and fails t on error. The output ends with the
// packet's fate: "output(...)" lines when delivered, nothing (or "drop;")
// when dropped.
func (o *OVN) Trace(t testing.TB, datapath, microflow string) string {
	t.Helper()
	out, err := o.TraceErr("--minimal", datapath, microflow)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Logs returns the tails of the daemons' logs, for failure messages.
func (o *OVN) Logs() string {
	var b strings.Builder
	for _, f := range []string{o.NB.Log, o.SB.Log, filepath.Join(o.Dir, "northd.log")} {
		data, _ := os.ReadFile(f)
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "==> %s <==\n%s\n", f, data)
	}
	return b.String()
}
