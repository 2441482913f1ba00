package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Down stops the processes Up started, deletes the namespaces it created
// (and with them every link, all of which live inside them) and removes
// what it wrote under Dir. It is idempotent: without a state file it does
// nothing.
func Down(ctx context.Context, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("spinel lab must run as root")
	}
	s, err := loadState(o.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(o.Out, "no lab in %s\n", o.Dir)
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	// Processes, newest first: agents, server, then FRR.
	for i := len(s.Procs) - 1; i >= 0; i-- {
		if err := stopProc(s.Procs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	// Anything else still running in a lab namespace (a stray udhcpc, a
	// shell a user left there) is the lab's too.
	for _, ns := range s.Namespaces {
		out, err := run(ctx, "ip", "netns", "pids", ns)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	for i := len(s.Namespaces) - 1; i >= 0; i-- {
		ns := s.Namespaces[i]
		if !strings.HasPrefix(ns, s.Prefix+"-") {
			errs = append(errs, fmt.Errorf("lab: refusing to delete namespace %q without the lab prefix %s", ns, s.Prefix))
			continue
		}
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if _, err := run(ctx, "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("lab down (state kept in %s; run down again): %w", o.Dir, errors.Join(errs...))
	}
	for _, p := range s.Paths {
		if p == "" || strings.Contains(p, "..") || filepath.IsAbs(p) {
			continue
		}
		os.RemoveAll(filepath.Join(s.Dir, p))
	}
	os.Remove(filepath.Join(s.Dir, stateFile+".tmp"))
	if err := os.Remove(filepath.Join(s.Dir, stateFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if s.CreatedDir {
		os.Remove(s.Dir) // only if empty
	}
	fmt.Fprintf(o.Out, "lab %s removed\n", s.Prefix)
	return nil
}

// procAlive reports whether pid is a live (not zombie) process whose command
// line contains match.
func procAlive(pid int, match string) bool {
	cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(cl) == 0 {
		return false
	}
	if !strings.Contains(strings.ReplaceAll(string(cl), "\x00", " "), match) {
		return false
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := strings.LastIndexByte(string(st), ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
		return false
	}
	return true
}

func readPid(file string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// stopProc sends SIGTERM, waits up to 5 s, then SIGKILL.
func stopProc(p Proc) error {
	pid := readPid(p.PidFile)
	if pid <= 1 || !procAlive(pid, p.Match) {
		return nil
	}
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		reap(pid)
		if !procAlive(pid, p.Match) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for range 40 {
		reap(pid)
		if !procAlive(pid, p.Match) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("lab: %s (pid %d) does not die", p.Name, pid)
}

// reap collects pid if it is our child (when Up and Down run in one
// process, as in tests); otherwise it does nothing.
func reap(pid int) {
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
}
