//go:build !unix

package cli

// oNonBlock and oNoFollow have no equivalent here: there are no FIFOs to
// block on, and CreatePrivate's O_EXCL refuses an existing link.
const (
	oNonBlock = 0
	oNoFollow = 0
)
