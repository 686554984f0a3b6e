//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lock makes runs for one source exclusive with an advisory lock (flock) on
// a file in the working directory. The kernel releases the lock when the
// process ends, however it ends, so there is no stale lock to take over and
// no window in which two starting runs both see one as stale. The file is
// never removed (removing it would let a later run lock a new file while an
// older run still holds the old one); it holds the pid of the last run that
// took the lock, for the error message.
//
// The file is opened without following a symbolic link and must be a
// regular file with one link: a link planted there (to a file the
// connector's user may write) is refused, never truncated.
func lock(dir, source string) (func(), error) {
	if err := workingDir(dir); err != nil {
		return nil, err
	}
	path := lockPath(dir, source)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("lock file %s is a symbolic link; refusing to follow it (remove it)", path)
		}
		return nil, err
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Nlink != 1 {
		f.Close()
		return nil, fmt.Errorf("lock file %s is not a regular file with a single link; refusing to use it (remove it)", path)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b[:n]))); perr == nil && pid > 0 {
				return nil, fmt.Errorf("%w: %s (pid %d); runs must not overlap", errLockHeld, path, pid)
			}
			return nil, fmt.Errorf("%w: %s; runs must not overlap", errLockHeld, path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
