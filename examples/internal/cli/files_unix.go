//go:build unix

package cli

import "syscall"

// oNonBlock opens a FIFO without waiting for a writer.
const oNonBlock = syscall.O_NONBLOCK

// oNoFollow refuses a symbolic link as the last element of a path.
const oNoFollow = syscall.O_NOFOLLOW
