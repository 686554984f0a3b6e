package cli

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
)

// Help describes a program for its -h: what it does, its flags in groups,
// the environment variables it reads and its exit codes.
type Help struct {
	Name    string
	Summary string
	// Groups name the flags of each group, in order; flags in no group are
	// listed under "Other".
	Groups []Group
	// Env lists "NAME  meaning" lines.
	Env []string
	// Exit lists "code  meaning" lines.
	Exit []string
}

// Group is a titled set of flags.
type Group struct {
	Title string
	Flags []string
}

// Usage returns the FlagSet's Usage function printing h.
func (h Help) Usage(fs *flag.FlagSet, w io.Writer) func() {
	return func() {
		fmt.Fprintf(w, "Usage: %s [flags]\n\n%s\n", h.Name, strings.TrimSpace(h.Summary))
		listed := map[string]bool{}
		for _, g := range h.Groups {
			fmt.Fprintf(w, "\n%s:\n", g.Title)
			for _, name := range g.Flags {
				if f := fs.Lookup(name); f != nil {
					printFlag(w, f)
					listed[name] = true
				}
			}
		}
		var other []*flag.Flag
		fs.VisitAll(func(f *flag.Flag) {
			if !listed[f.Name] {
				other = append(other, f)
			}
		})
		if len(other) > 0 {
			fmt.Fprintf(w, "\nOther:\n")
			for _, f := range other {
				printFlag(w, f)
			}
		}
		if len(h.Env) > 0 {
			fmt.Fprintf(w, "\nEnvironment:\n")
			for _, e := range h.Env {
				fmt.Fprintf(w, "  %s\n", e)
			}
		}
		if len(h.Exit) > 0 {
			fmt.Fprintf(w, "\nExit codes:\n")
			for _, e := range h.Exit {
				fmt.Fprintf(w, "  %s\n", e)
			}
		}
	}
}

func printFlag(w io.Writer, f *flag.Flag) {
	name, usage := flag.UnquoteUsage(f)
	line := "  -" + f.Name
	if name != "" {
		line += " " + name
	}
	fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
	if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
		fmt.Fprintf(w, " (default %s)", f.DefValue)
	}
	fmt.Fprintln(w)
}

// stamped is the version the release build stamps into the programs with
// -ldflags "-X github.com/qualysbridge/qualysbridge/examples/internal/cli.stamped=v1.2.3"
// (deploy/build-static.sh does it); empty in an ordinary go build.
var stamped string

// Version is the programs' version: the one the release build stamped,
// else the module's when built from a tagged module (go install ...@v1.2.3),
// else the VCS revision from the build info, else "devel".
func Version() string {
	if stamped != "" {
		return stamped
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}

// WantsVersion reports whether the command line asks for the version:
// -version (or --version) alone, that is, last or followed by another
// flag. (-version VALUE is the IBM framework's connector version, which the
// connector also accepts.)
func WantsVersion(args []string) bool {
	for i, a := range args {
		if a == "-version" || a == "--version" {
			if i == len(args)-1 || strings.HasPrefix(args[i+1], "-") {
				return true
			}
		}
		if a == "--" {
			break
		}
	}
	return slices.Contains(args, "-version=true")
}

// PrintVersion writes "name version (go version)".
func PrintVersion(w io.Writer, name string) {
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	fmt.Fprintf(w, "%s %s (%s)\n", name, Version(), goVersion)
}
