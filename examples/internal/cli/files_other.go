//go:build !unix

package cli

// oNonBlock has no equivalent here: there are no FIFOs to block on.
const oNonBlock = 0
