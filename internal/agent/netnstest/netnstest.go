// Package netnstest holds what the agent's privileged tests share to build
// test beds out of network namespaces: the root and tool checks, commands,
// namespaces removed at the end of the test, running code inside one, and
// polling. It is imported by tests only.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// Require fails the test unless it runs as root and every binary in tools
// (binary name -> the Debian package that ships it) is on PATH. "ip"
// (iproute2) is always required. Privileged tests fail rather than skip:
// CI runs as root and installs the packages.
func Require(t testing.TB, tools map[string]string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs (CI runs as root and installs it): root: creates network namespaces")
	}
	all := map[string]string{"ip": "iproute2"}
	for b, p := range tools {
		all[b] = p
	}
	for bin, pkg := range all {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found in PATH: install the Debian package %s (apt-get install -y %s)", bin, pkg, pkg)
		}
	}
}

// Run runs a command and returns its combined output; a failure fails the test.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var seq atomic.Int32

// Add creates a network namespace named after prefix and role, unique to
// this process, and deletes it at the end of the test.
func Add(t testing.TB, prefix, role string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%s-%d-%d", prefix, role, os.Getpid(), seq.Add(1))
	Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v %s", name, err, out)
		}
	})
	return name
}

// In runs f on a locked OS thread switched into network namespace ns;
// sockets f creates stay in ns.
func In(t testing.TB, ns string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("setns %s: %v", ns, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it dies with the goroutine.
			panic(fmt.Sprintf("restore network namespace: %v", err))
		}
		runtime.UnlockOSThread()
	}()
	f()
}

// Sysctl sets /proc/sys/net/KEY (slash-separated) in ns.
func Sysctl(t testing.TB, ns, key, value string) {
	t.Helper()
	Run(t, "ip", "netns", "exec", ns, "sh", "-c", "echo "+value+" > /proc/sys/net/"+key)
}

// ReadSysctl reads /proc/sys/net/KEY in ns.
func ReadSysctl(t testing.TB, ns, key string) string {
	t.Helper()
	return strings.TrimSpace(Run(t, "ip", "netns", "exec", ns, "cat", "/proc/sys/net/"+key))
}

// Eventually polls cond every 100 ms until it returns "" or timeout has
// passed, then fails the test with its last complaint.
func Eventually(t testing.TB, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
