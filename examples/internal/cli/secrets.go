package cli

import (
	"log/slog"
	"strings"
)

// Secrets takes each of a program's secrets from its flag or, when the
// flag is not given, from the environment, and remembers which came from
// the command line so that one warning names them all.
type Secrets struct {
	Getenv func(string) string
	onCLI  []string
	vars   []string
}

// Get returns flagValue when it is set (noting flag), else the first
// non-empty of the environment variables env (the first is the one the
// warning recommends).
func (s *Secrets) Get(flagValue, flag string, env ...string) string {
	if len(env) > 0 {
		s.vars = append(s.vars, env[0])
	}
	if flagValue != "" {
		s.onCLI = append(s.onCLI, flag)
		return flagValue
	}
	for _, n := range env {
		if v := s.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// Warn logs, when any secret came from the command line, that it is
// visible to other users, naming the flags and the variables to use.
func (s *Secrets) Warn(logger *slog.Logger) {
	if len(s.onCLI) == 0 {
		return
	}
	use := s.vars[len(s.vars)-1]
	if len(s.vars) > 1 {
		use = strings.Join(s.vars[:len(s.vars)-1], ", ") + " or " + use
	}
	logger.Warn("secrets given on the command line are visible to other users (ps, shell history); use "+use+" instead",
		"flags", strings.Join(s.onCLI, ", "))
}
