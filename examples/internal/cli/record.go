package cli

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/qualysbridge/qualysbridge/qbrecord"
)

// Recording wraps the programs' HTTP client for -record DIR and -replay
// DIR: each service's exchanges go to DIR/<service>.jsonl, scrubbed of
// secrets, with the service's host replaced by a placeholder. It returns
// the client to use and a function to call once the run is over.
type Recording struct {
	Dir    string
	Replay bool
	recs   []*qbrecord.Recorder
}

// NewRecording returns nil when neither -record nor -replay is given.
func NewRecording(recordDir, replayDir string) (*Recording, error) {
	switch {
	case recordDir != "" && replayDir != "":
		return nil, errors.New("-record and -replay exclude each other")
	case recordDir != "":
		if err := os.MkdirAll(recordDir, 0o700); err != nil {
			return nil, fmt.Errorf("-record: %w", err)
		}
		return &Recording{Dir: recordDir}, nil
	case replayDir != "":
		return &Recording{Dir: replayDir, Replay: true}, nil
	}
	return nil, nil
}

// Client returns the HTTP client for one service (qualys, car, threatq)
// reached at the given base URLs (their hosts become placeholders). A nil
// Recording returns base unchanged.
func (r *Recording) Client(service string, base *http.Client, baseURLs []string, secrets ...string) (*http.Client, error) {
	if r == nil {
		return base, nil
	}
	mode := qbrecord.Record
	if r.Replay {
		mode = qbrecord.Replay
	}
	opts := []qbrecord.Option{qbrecord.WithSecrets(secrets...)}
	if base.Transport != nil {
		opts = append(opts, qbrecord.WithTransport(base.Transport))
	}
	for i, raw := range baseURLs {
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			ph := service + ".example"
			if i > 0 {
				ph = fmt.Sprintf("%s-%d.example", service, i+1)
			}
			opts = append(opts, qbrecord.WithPlaceholder(u.Host, ph))
		}
	}
	rec, err := qbrecord.New(filepath.Join(r.Dir, service), mode, opts...)
	if err != nil {
		return nil, err
	}
	r.recs = append(r.recs, rec)
	return rec.Client(), nil
}

// Close writes the cassettes (when recording) and reports requests that had
// no recording (when replaying).
func (r *Recording) Close() error {
	if r == nil {
		return nil
	}
	var errs []error
	for _, rec := range r.recs {
		errs = append(errs, rec.Stop())
		errs = append(errs, rec.Misses()...)
	}
	return errors.Join(errs...)
}
