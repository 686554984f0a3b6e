package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/qualysbridge/qualysbridge/qualys"
)

// Exit codes the three programs share for the classes they have in
// common. None collides with IBM's CAR connector framework codes (0, 1,
// 2, 10, 20, 50-55).
const (
	// ExitLockHeld: another run holds the lock (EX_TEMPFAIL: try later).
	ExitLockHeld = 75
	// ExitRunTime: the run was stopped by -max_run_time (as timeout(1)).
	ExitRunTime = 124
	// ExitSIGINT and ExitSIGTERM: the run was interrupted by a signal
	// (128 + the signal's number, the shell's convention).
	ExitSIGINT  = 130
	ExitSIGTERM = 143
)

// Interrupted is the cause of a run ended by SIGINT or SIGTERM.
type Interrupted struct{ Signal os.Signal }

func (i *Interrupted) Error() string { return "interrupted by " + signalName(i.Signal) }

// Code is the exit code of the interruption (130 or 143).
func (i *Interrupted) Code() int {
	if i.Signal == syscall.SIGTERM {
		return ExitSIGTERM
	}
	return ExitSIGINT
}

func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case os.Interrupt:
		return "SIGINT"
	}
	return s.String()
}

// SignalContext returns a context that ends, with an *Interrupted cause,
// at the first SIGINT or SIGTERM; stop releases the signals.
func SignalContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(&Interrupted{Signal: s})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

// Interruption returns the *Interrupted that ended ctx, or nil.
func Interruption(ctx context.Context) *Interrupted {
	var i *Interrupted
	if errors.As(context.Cause(ctx), &i) {
		return i
	}
	return nil
}

// QualysClass is what a Qualys failure was, as the programs report it.
type QualysClass int

// The classes of Qualys failures.
const (
	NotQualys         QualysClass = iota
	QualysUnreachable             // no answer: DNS, connection, TLS, idle timeout
	QualysLogin                   // the login was refused (HTTP 401, codes 2000, 2001)
	QualysForbidden               // the user may not do this (HTTP 403, codes 2002-2012, UNAUTHORIZED)
	QualysParameter               // a parameter was refused (codes 1903-1907, INVALID_REQUEST, a retired API version)
	QualysData                    // the answer could not be read
	QualysOther                   // any other failure of the data source (a rate limit, a server error)
)

// ClassifyQualys says what kind of Qualys failure err is (NotQualys when
// it is none).
func ClassifyQualys(err error) QualysClass {
	var qe *qualys.Error
	var de *qualys.DecodeError
	var ve *qualys.VersionError
	var ce *qualys.ConfigError
	switch {
	case err == nil:
		return NotQualys
	case errors.Is(err, qualys.ErrUnreachable), errors.Is(err, qualys.ErrIdleTimeout):
		return QualysUnreachable
	case errors.As(err, &ve), errors.As(err, &ce), errors.Is(err, qualys.ErrBaseURL):
		return QualysParameter
	case errors.As(err, &de), errors.Is(err, qualys.ErrUnexpectedBody):
		return QualysData
	case errors.As(err, &qe):
		switch {
		case qe.StatusCode == 401 || qe.Code == "2000" || qe.Code == "2001" || qe.Code == "INVALID_CREDENTIALS":
			return QualysLogin
		case qe.StatusCode == 403 || qe.Code == "UNAUTHORIZED" || strings.HasPrefix(qe.Code, "20"):
			return QualysForbidden
		case qe.Code == "INVALID_REQUEST" || qe.Code == "1903" || qe.Code == "1904" || qe.Code == "1905" || qe.Code == "1906" || qe.Code == "1907":
			return QualysParameter
		}
		return QualysOther
	}
	return NotQualys
}

// WriteFailureJSON writes the one JSON document a program prints with
// -json when it fails: {"ok": false, "error": ..., "exit_code": N}, and
// any extra fields (a partial summary).
func WriteFailureJSON(w io.Writer, code int, err error, extra map[string]any) {
	doc := map[string]any{"ok": false, "exit_code": code, "error": ""}
	if err != nil {
		doc["error"] = err.Error()
	}
	for k, v := range extra {
		doc[k] = v
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(doc)
}

// Leftover refuses words left after the flags: Go's flag parsing stops
// at the first word that is not a flag and silently ignores every flag
// after it (-demo stray -demo_hosts 5 ran 500 hosts).
func Leftover(args []string) error {
	if len(args) == 0 {
		return nil
	}
	return fmt.Errorf("unexpected argument %q: every argument must be a flag (a value goes with its flag, as -flag value or -flag=value); the flags after it were not read", args[0])
}

// LogFormats are the -log_format values.
const LogFormats = "text or json"

// NewLogger returns the programs' logger on stderr: slog's text handler,
// or its JSON handler for log collectors (-log_format json); DEBUG with
// debug.
func NewLogger(stderr io.Writer, format string, debug bool) (*slog.Logger, error) {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(strings.TrimSpace(format)) {
	case "", "text":
		return slog.New(slog.NewTextHandler(stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(stderr, opts)), nil
	}
	return nil, fmt.Errorf("-log_format %q: want %s", format, LogFormats)
}

// Count writes n and the noun, singular for one: "1 host", "3 hosts"
// (plural is the noun's plural form).
func Count(n int, singular, plural string) string {
	if n == 1 {
		return "1 " + singular
	}
	return fmt.Sprintf("%d %s", n, plural)
}

// LoginHint is advice for a refused Qualys login: the flag and variable to
// check (a 401 whose body is a proxy's page says nothing about them).
func LoginHint(err error) string {
	if ClassifyQualys(err) == QualysLogin {
		return "Qualys refused the login: check -username and QUALYS_PASSWORD"
	}
	return ""
}
