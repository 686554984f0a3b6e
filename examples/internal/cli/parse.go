package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Parse parses the program's flags. -h and -help print the full help on
// stderr (flag.ErrHelp returned); any other mistake prints one line, the
// last, naming the flag and, for a flag not defined, the nearest one
// ("did you mean -username?"), without dumping the usage, so that the
// error does not scroll away.
func Parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	fs.Usage = usage
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		usage()
		return err
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		if near := Nearest(fs, name); near != "" {
			msg += "; did you mean -" + near + "?"
		}
	}
	fmt.Fprintf(stderr, "%s: %s (-h lists the flags)\n", fs.Name(), msg)
	return err
}

// Nearest is the defined flag closest to name (by edit distance, at most a
// third of its length, and at least 2), or "".
func Nearest(fs *flag.FlagSet, name string) string {
	name = strings.TrimLeft(name, "-")
	best, bestD := "", max(2, len(name)/3)+1
	fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(strings.ToLower(name), strings.ToLower(f.Name)); d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}

// editDistance is the Damerau-Levenshtein distance (optimal string
// alignment): a swapped pair of letters counts once.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
