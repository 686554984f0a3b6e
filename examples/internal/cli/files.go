package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// MaxConfigBytes bounds what ReadConfigFile reads: a configuration file or
// a CA bundle is small; anything larger is not one.
const MaxConfigBytes = 1 << 20

// ErrNotRegular is the error of a configuration path that is not a
// regular file (a FIFO, a device such as /dev/zero, a directory).
var ErrNotRegular = errors.New("not a regular file")

// ReadConfigFile reads a small file the programs trust (a configuration
// file, a CA bundle): it must be a regular file, opened without blocking
// (a FIFO planted there cannot hang the program before its run bound), at
// most MaxConfigBytes. A symbolic link is followed to its target, which is
// held to the same rules (a link to /dev/zero is refused). It returns the
// file's information for permission checks.
func ReadConfigFile(path string) ([]byte, fs.FileInfo, error) {
	f, err := openNonBlocking(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fi, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, fi, err
	}
	if len(b) > MaxConfigBytes {
		return nil, fi, fmt.Errorf("%s: larger than %d bytes; not a configuration file", path, MaxConfigBytes)
	}
	return b, fi, nil
}

// WritableByOthers reports whether a file's mode lets users other than
// its owner write it (group or world write), so that a program can warn
// when such a file decides where credentials are sent.
func WritableByOthers(fi fs.FileInfo) bool {
	return fi != nil && fi.Mode().Perm()&0o022 != 0
}

// openNonBlocking opens a file for reading without blocking on a FIFO.
func openNonBlocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|oNonBlock, 0)
}
