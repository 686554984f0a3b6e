//go:build !unix

package main

import (
	"errors"
	"fmt"
	"os"
)

// lock makes runs for one source exclusive by creating the lock file
// exclusively. Without flock a lock left by a killed run is not taken over:
// the error says which file to remove once no run is active.
func lock(dir, source string) (func(), error) {
	if err := workingDir(dir); err != nil {
		return nil, err
	}
	path := lockPath(dir, source)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w: %s; runs must not overlap (remove the file if no run is active)", errLockHeld, path)
		}
		return nil, err
	}
	fmt.Fprintf(f, "%d\n", os.Getpid())
	f.Close()
	return func() { os.Remove(path) }, nil
}
