//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A symbolic link planted at the lock's path is refused, and its target
// is left alone (it was truncated and given the pid before).
func TestLockRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious\n"), 0o600)
	if err := os.Symlink(victim, lockPath(dir, "Qualys")); err != nil {
		t.Fatal(err)
	}
	if unlock, err := lock(dir, "Qualys"); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		if unlock != nil {
			unlock()
		}
		t.Fatalf("lock = %v, want a refusal naming the symbolic link", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("the link's target was written: %q", b)
	}
	// A hard link to another file is refused too.
	os.Remove(lockPath(dir, "Qualys"))
	if err := os.Link(victim, lockPath(dir, "Qualys")); err != nil {
		t.Skip("hard links:", err)
	}
	if unlock, err := lock(dir, "Qualys"); err == nil {
		unlock()
		t.Fatal("a hard-linked lock file was used")
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("the hard link's file was written: %q", b)
	}
}

// A configuration file that is a FIFO, or a link to /dev/zero, is refused
// at once (the FIFO hung the connector before its run bound; /dev/zero
// read 24 GB); a file other users may write that names where credentials
// go draws a warning; a -working_dir whose parent does not exist is
// refused, not created.
func TestHostileConfigFiles(t *testing.T) {
	w := newWorld(t, 3)
	fifo := filepath.Join(w.dir, "qualys_config.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	code, _, stderr := w.run(t, w.args()...)
	if code != exitUsage || !strings.Contains(stderr, "not a regular file") {
		t.Errorf("FIFO config: exit %d: %s", code, lastLines(stderr, 3))
	}
	os.Remove(fifo)
	os.Symlink("/dev/zero", fifo)
	code, _, stderr = w.run(t, w.args()...)
	if code != exitUsage || !strings.Contains(stderr, "not a regular file") {
		t.Errorf("/dev/zero config: exit %d: %s", code, lastLines(stderr, 3))
	}
	os.Remove(fifo)
	big := filepath.Join(t.TempDir(), "big.json")
	os.WriteFile(big, []byte(`{"source":"`+strings.Repeat("x", 2<<20)+`"}`), 0o600)
	code, _, stderr = w.run(t, w.args("-config", big)...)
	if code != exitUsage || !strings.Contains(stderr, "larger than") {
		t.Errorf("2 MiB config: exit %d: %s", code, lastLines(stderr, 3))
	}
	os.WriteFile(fifo, []byte(`{"source":"Qualys","url":"`+w.c.URL+`"}`), 0o600)
	os.Chmod(fifo, 0o666)
	code, _, stderr = w.run(t, w.args()...)
	if code != 0 || !strings.Contains(stderr, "writable by its owner only") {
		t.Errorf("world-writable config: exit %d, want a warning: %s", code, lastLines(stderr, 3))
	}
	os.Chmod(fifo, 0o600)
	code, _, stderr = w.run(t, w.args()...)
	if code != 0 || strings.Contains(stderr, "writable by its owner only") {
		t.Errorf("0600 config: exit %d: %s", code, lastLines(stderr, 3))
	}
	args := w.args()
	for i, a := range args {
		if a == "-working_dir" {
			args[i+1] = filepath.Join(t.TempDir(), "no", "such", "dir")
		}
	}
	code, _, stderr = w.run(t, args...)
	if code == 0 || !strings.Contains(stderr, "parent directory does not exist") {
		t.Errorf("missing parent: exit %d: %s", code, lastLines(stderr, 3))
	}
}
