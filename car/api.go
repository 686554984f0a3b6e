package car

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/redact"
	"github.com/qualysbridge/qualysbridge/internal/retry"
)

// DatabaseStatus is CAR's answer about its graph database.
type DatabaseStatus struct {
	Name                      string   `json:"name"`
	GraphName                 string   `json:"graph_name"`
	MissingCollections        []string `json:"missing_collections"`
	CollectionsWithoutIndexes []string `json:"collections_without_indexes"`
	Ready                     bool     `json:"is_ready"`
	// NotFound reports that the database is not set up yet.
	NotFound bool `json:"-"`
}

// DatabaseStatus reads the database status (GET databases). A database
// that is not set up gives a status with NotFound, not an error.
func (c *Client) DatabaseStatus(ctx context.Context) (*DatabaseStatus, error) {
	var out struct {
		Databases []DatabaseStatus `json:"databases"`
	}
	err := c.call(ctx, &request{method: "GET", segs: []string{"databases"}, idempotent: true}, &out)
	var ce *Error
	if errors.As(err, &ce) && ce.StatusCode == 400 && ce.Code == "database_not_found" {
		return &DatabaseStatus{NotFound: true}, nil
	}
	if err != nil {
		return nil, err
	}
	if len(out.Databases) == 0 {
		return &DatabaseStatus{NotFound: true}, nil
	}
	return &out.Databases[0], nil
}

// EnsureDatabase makes the database usable: it creates it when missing,
// names its graph or adds missing indexes when needed, waiting for each job
// with backoff. It reports whether the database was just created (an
// incremental import is then impossible).
func (c *Client) EnsureDatabase(ctx context.Context) (created bool, err error) {
	st, err := c.DatabaseStatus(ctx)
	if err != nil {
		return false, err
	}
	var job struct {
		JobID string `json:"job_id"`
	}
	switch {
	case st.NotFound:
		if err := c.call(ctx, &request{method: "POST", segs: []string{"databases"}}, &job); err != nil {
			return false, err
		}
		return true, c.waitJob(ctx, job.JobID, "creating the database")
	case st.GraphName == "" && !st.Ready:
		if err := c.call(ctx, &request{method: "PATCH", segs: []string{"databases"}, body: map[string]string{"graph_name": "assets"}}, &job); err != nil {
			return false, err
		}
		return false, c.waitJob(ctx, job.JobID, "naming the database's graph")
	case len(st.CollectionsWithoutIndexes) > 0:
		if err := c.call(ctx, &request{method: "PATCH", segs: []string{"databases"}, body: map[string][]string{"collections_without_indexes": st.CollectionsWithoutIndexes}}, &job); err != nil {
			return false, err
		}
		return false, c.waitJob(ctx, job.JobID, "indexing the database")
	}
	return false, nil
}

// JobError reports a CAR job (jobstatus) that did not complete: it ended
// in ERROR, in a status this package does not know as running or done
// (CANCELLED, an empty status, ...), or it was still running past the
// wait's deadline (then it matches ErrJobDeadline).
type JobError struct {
	// Step is what the job was for: "creating the database", "entering
	// a full import", ... (empty when WaitJob was called directly).
	Step    string
	JobID   string
	Status  string
	Message string
	// deadline is set when the wait's deadline ended it.
	deadline bool
}

// Error describes the failed job.
func (e *JobError) Error() string {
	step := ""
	if e.Step != "" {
		step = " (" + e.Step + ")"
	}
	status := redact.Clean(e.Status, 64)
	if status == "" {
		status = "an empty status"
	} else {
		status = "status " + status
	}
	if e.deadline {
		return fmt.Sprintf("car: job %s%s is still in %s %s", redact.Clean(e.JobID, 128), step, status, redact.Clean(e.Message, 0))
	}
	return fmt.Sprintf("car: job %s%s ended with %s: %s", redact.Clean(e.JobID, 128), step, status, redact.Clean(e.Message, 0))
}

// Is matches ErrJobDeadline for a job still running past its deadline.
func (e *JobError) Is(target error) bool { return e.deadline && target == ErrJobDeadline }

// ErrJobDeadline is matched (errors.Is) by the error of a wait that a job
// outlived: a *JobError for a jobstatus wait (WithWaitDeadline), a
// *JobFailedError for an import job (WithJobDeadline).
var ErrJobDeadline = errors.New("car: a job outlived its deadline")

// WaitJob polls jobstatus/{id} with backoff until the job completes. Any
// status that is not a known running one (INPROGRESS, IN_PROGRESS,
// PENDING, QUEUED, RUNNING) nor a known done one (COMPLETE, COMPLETED,
// DONE, SUCCESS) ends the wait with a *JobError: ERROR and FAILED, but
// also CANCELLED, an empty status or one never seen, since the job's
// outcome is then unknown. The wait lasts at most the client's
// WithWaitDeadline (default DefaultJobDeadline).
func (c *Client) WaitJob(ctx context.Context, jobID string) error {
	return c.waitJob(ctx, jobID, "")
}

func (c *Client) waitJob(ctx context.Context, jobID, step string) error {
	if jobID == "" {
		msg := "CAR returned no job id"
		if step != "" {
			msg += " (" + step + ")"
		}
		return &Error{Method: "GET", Endpoint: c.base.Path + "/jobstatus", Message: msg}
	}
	start := time.Now()
	wait := c.pollMin
	for {
		var st struct {
			ID      string `json:"id"`
			Status  string `json:"status"`
			Message string `json:"message"`
			Error   any    `json:"error"`
		}
		if err := c.call(ctx, &request{method: "GET", segs: []string{"jobstatus", jobID}, idempotent: true}, &st); err != nil {
			if step != "" {
				return wrap(step, err)
			}
			return err
		}
		msg := st.Message
		if st.Error != nil {
			msg = strings.TrimSpace(msg + " " + fmt.Sprint(st.Error))
		}
		switch strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(st.Status), " ", "_")) {
		case "COMPLETE", "COMPLETED", "DONE", "SUCCESS":
			return nil
		case "INPROGRESS", "IN_PROGRESS", "PENDING", "QUEUED", "RUNNING":
		default:
			if msg == "" {
				msg = "the job's outcome is unknown"
			}
			return &JobError{Step: step, JobID: jobID, Status: st.Status, Message: redact.Scrub(msg, c.secrets()...)}
		}
		if waited := time.Since(start); waited >= c.waitLimit {
			return &JobError{Step: step, JobID: jobID, Status: st.Status, deadline: true,
				Message: fmt.Sprintf("after %s (deadline %s, WithWaitDeadline)", roundWait(waited), c.waitLimit)}
		}
		if err := retry.Sleep(ctx, min(wait, max(c.waitLimit-time.Since(start), time.Millisecond))); err != nil {
			return err
		}
		wait = min(wait*2, c.pollMax)
	}
}

// ModelStateID returns the model state saved on a source, and false when
// the source has none (or does not exist yet): the next import must then be
// a full one.
func (c *Client) ModelStateID(ctx context.Context, source string) (string, bool, error) {
	var out struct {
		ModelStateID *string `json:"model_state_id"`
	}
	err := c.call(ctx, &request{method: "GET", segs: []string{"source", source}, idempotent: true}, &out)
	if errors.Is(err, ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if out.ModelStateID == nil || *out.ModelStateID == "" {
		return "", false, nil
	}
	return *out.ModelStateID, true, nil
}

// SaveModelStateID saves the model state on a source (PATCH
// source?key=...). It is the connector's checkpoint.
func (c *Client) SaveModelStateID(ctx context.Context, source, id string) error {
	return c.call(ctx, &request{method: "PATCH", segs: []string{"source"}, query: url.Values{"key": {source}},
		body: map[string]string{"model_state_id": id}}, nil)
}

// ResetModelStateID clears the model state so that the next run is a full
// import.
func (c *Client) ResetModelStateID(ctx context.Context, source string) error {
	return c.SaveModelStateID(ctx, source, "")
}

// EnterFullImport marks the start of a full import of a source and waits
// for CAR's job.
func (c *Client) EnterFullImport(ctx context.Context, source string) error {
	return c.fullImportBracket(ctx, "POST", source, "entering a full import")
}

// ExitFullImport marks the end of a full import; CAR then deactivates what
// the source did not report during it.
func (c *Client) ExitFullImport(ctx context.Context, source string) error {
	return c.fullImportBracket(ctx, "DELETE", source, "leaving a full import")
}

func (c *Client) fullImportBracket(ctx context.Context, method, source, step string) error {
	var job struct {
		JobID string `json:"job_id"`
	}
	if err := c.call(ctx, &request{method: method, segs: []string{"source", source, "full-import-in-progress"}, idempotent: true}, &job); err != nil {
		return wrap(step, err)
	}
	return c.waitJob(ctx, job.JobID, step)
}

// Envelope is one import request: the source, the report and the objects
// of one collection, already encoded.
type Envelope struct {
	Source     Source
	Report     Report
	Collection string
	Objects    []json.RawMessage
}

// MarshalJSON writes {"source":…,"report":…,"<collection>":[…]}.
func (e *Envelope) MarshalJSON() ([]byte, error) {
	parts, _, err := e.parts()
	if err != nil {
		return nil, err
	}
	return bytes.Join(parts, nil), nil
}

// parts is the envelope's body as pieces that are written one after
// another (the objects are not copied), and its length.
func (e *Envelope) parts() ([][]byte, int, error) {
	head, err := envelopeHead(e.Source, e.Report)
	if err != nil {
		return nil, 0, err
	}
	parts := [][]byte{head}
	if e.Collection != "" {
		coll, _ := json.Marshal(e.Collection)
		parts = append(parts, []byte(","), coll, []byte(":["))
		for i, o := range e.Objects {
			if i > 0 {
				parts = append(parts, []byte(","))
			}
			parts = append(parts, o)
		}
		parts = append(parts, []byte("]"))
	}
	parts = append(parts, []byte("}"))
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return parts, n, nil
}

// envelopeHead is {"source":…,"report":… , the start every import body of
// a source and report shares.
func envelopeHead(src Source, rep Report) ([]byte, error) {
	s, err := json.Marshal(src)
	if err != nil {
		return nil, err
	}
	r, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	head := append([]byte(`{"source":`), s...)
	head = append(head, `,"report":`...)
	return append(head, r...), nil
}

// PostImport posts one envelope as it is (POST imports) and returns the
// id of CAR's import job: the raw call, which neither waits for the job
// nor packs. A streaming import of a whole graph, packed into few
// requests and waited for, is Client.NewImport. Imports are upserts, so
// re-sending one after an ambiguous failure is harmless.
func (c *Client) PostImport(ctx context.Context, env *Envelope) (string, error) {
	parts, n, err := env.parts()
	if err != nil {
		return "", err
	}
	return c.postImport(ctx, parts, n)
}

// Import is PostImport.
//
// Deprecated: use PostImport for the raw call, or NewImport for a
// streaming import; Import will be removed in the next release.
func (c *Client) Import(ctx context.Context, env *Envelope) (string, error) {
	return c.PostImport(ctx, env)
}

// postImport posts an import body given as parts and returns the job id.
func (c *Client) postImport(ctx context.Context, parts [][]byte, size int) (string, error) {
	var out struct {
		ID      string          `json:"id"`
		Status  string          `json:"status"`
		Message string          `json:"message"`
		Errors  json.RawMessage `json:"errors"`
	}
	if err := c.call(ctx, &request{method: "POST", segs: []string{"imports"}, parts: parts, size: size, idempotent: true}, &out); err != nil {
		return "", err
	}
	if e := bytes.TrimSpace(out.Errors); strings.EqualFold(out.Status, "error") || strings.EqualFold(out.Status, "failed") ||
		(len(e) > 0 && string(e) != "null" && string(e) != "[]" && string(e) != "{}") {
		msg := out.Message
		if len(e) > 0 {
			msg = strings.TrimSpace(msg + " " + redact.Snippet(e, 300))
		}
		return "", &Error{Method: "POST", Endpoint: c.base.Path + "/imports", StatusCode: http.StatusOK,
			Message: redact.Scrub("CAR answered the import with status "+strconv.Quote(out.Status)+": "+msg, c.secrets()...)}
	}
	if out.ID == "" {
		return "", &Error{Method: "POST", Endpoint: c.base.Path + "/imports", Message: "CAR accepted the import but returned no job id"}
	}
	return out.ID, nil
}

// ImportStatus is the state of several import jobs.
type ImportStatus struct {
	Complete   []string
	Incomplete []string
	NotFound   []string
	Errors     []FailedImport
}

// FailedImport is an import job importstatus lists under error_imports.
type FailedImport struct {
	ID         string `json:"id"`
	Message    string `json:"error"`
	StatusCode int    `json:"statusCode"`
}

// importStatusList reads importstatus in the array form IBM's API
// documentation gives, one entry per job: [{"id": ..., "status": ...}].
// A status it does not know is an error for that job (its outcome is
// unknown, so the model state must not move).
func (c *Client) importStatusList(b []byte) (*ImportStatus, error) {
	var list []struct {
		ID         flexText `json:"id"`
		Status     string   `json:"status"`
		Message    string   `json:"message"`
		Error      any      `json:"error"`
		StatusCode int      `json:"statusCode"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, &Error{Method: "GET", Endpoint: c.base.Path + "/importstatus", StatusCode: 200, Message: "unreadable importstatus answer: " + redact.ScrubbedSnippet(b, 120, c.secrets()...)}
	}
	st := &ImportStatus{}
	for _, j := range list {
		id := string(j.ID)
		switch strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(j.Status), " ", "_")) {
		case "COMPLETE", "COMPLETED", "SUCCESS", "DONE":
			st.Complete = append(st.Complete, id)
		case "INPROGRESS", "IN_PROGRESS", "INCOMPLETE", "PENDING", "QUEUED", "RUNNING":
			st.Incomplete = append(st.Incomplete, id)
		case "NOTFOUND", "NOT_FOUND":
			st.NotFound = append(st.NotFound, id)
		case "ERROR", "FAILED", "FAILURE":
			msg := j.Message
			if j.Error != nil {
				if s, ok := j.Error.(string); ok {
					msg = strings.TrimSpace(msg + " " + s)
				} else {
					e, _ := json.Marshal(j.Error)
					msg = strings.TrimSpace(msg + " " + string(e))
				}
			}
			st.Errors = append(st.Errors, FailedImport{ID: id, Message: redact.Scrub(msg, c.secrets()...), StatusCode: j.StatusCode})
		default:
			st.Errors = append(st.Errors, FailedImport{ID: id, Message: fmt.Sprintf("importstatus gives an unknown status %q", j.Status)})
		}
	}
	return st, nil
}

// flexText reads a string or a JSON number as text.
type flexText string

func (f *flexText) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*f = flexText(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexText(n.String())
	return nil
}

// ImportStatus asks about import jobs (importstatus?ids=...). CAR answers
// in the framework's object form ({"complete_imports": [...], ...}) or in
// the array form IBM's API documentation gives ([{"id", "status"}]); both
// are read.
func (c *Client) ImportStatus(ctx context.Context, ids []string) (*ImportStatus, error) {
	var out struct {
		Complete []struct {
			ID string `json:"id"`
		} `json:"complete_imports"`
		Incomplete []struct {
			ID string `json:"id"`
		} `json:"incomplete_imports"`
		NotFound []json.RawMessage `json:"notfound_imports"`
		Errors   []struct {
			ID         string `json:"id"`
			Error      any    `json:"error"`
			StatusCode int    `json:"statusCode"`
		} `json:"error_imports"`
	}
	var raw json.RawMessage
	if err := c.call(ctx, &request{method: "GET", segs: []string{"importstatus"}, query: url.Values{"ids": {strings.Join(ids, ",")}}, idempotent: true}, &raw); err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
		return c.importStatusList(t)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, &Error{Method: "GET", Endpoint: c.base.Path + "/importstatus", StatusCode: 200, Message: "unreadable importstatus answer: " + redact.ScrubbedSnippet(raw, 120, c.secrets()...)}
	}
	st := &ImportStatus{}
	for _, x := range out.Complete {
		st.Complete = append(st.Complete, x.ID)
	}
	for _, x := range out.Incomplete {
		st.Incomplete = append(st.Incomplete, x.ID)
	}
	for _, raw := range out.NotFound {
		var id string
		if json.Unmarshal(raw, &id) != nil {
			var o struct {
				ID string `json:"id"`
			}
			json.Unmarshal(raw, &o)
			id = o.ID
		}
		st.NotFound = append(st.NotFound, id)
	}
	for _, x := range out.Errors {
		msg := ""
		if x.Error != nil {
			if s, ok := x.Error.(string); ok {
				msg = s
			} else {
				b, _ := json.Marshal(x.Error)
				msg = string(b)
			}
		}
		st.Errors = append(st.Errors, FailedImport{ID: x.ID, Message: redact.Scrub(msg, c.secrets()...), StatusCode: x.StatusCode})
	}
	return st, nil
}

// softDeleteChunk bounds the characters of ids in one soft delete call.
const softDeleteChunk = 1800

// SoftDelete disables vertices of a collection: by keys for ipaddress,
// hostname and macaddress, by external ids otherwise. Ids are URL-encoded
// and sent in chunks that keep URLs short.
func (c *Client) SoftDelete(ctx context.Context, source, collection string, ids []string) error {
	param := "external_ids"
	if Keyed(collection) {
		param = "keys"
	}
	for len(ids) > 0 {
		n, size := 0, 0
		for n < len(ids) && (n == 0 || size+len(ids[n])+1 <= softDeleteChunk) {
			size += len(ids[n]) + 1
			n++
		}
		if err := c.call(ctx, &request{method: "DELETE", segs: []string{"source", source, collection},
			query: url.Values{param: {strings.Join(ids[:n], ",")}}, idempotent: true}, nil); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// DisableEdge deactivates one edge (PATCH {"active": false}). from and to
// are the raw ids of the ends, as in Edge. PATCH is never retried after an
// ambiguous failure; only a refusal (429, 503 with Retry-After) is retried.
func (c *Client) DisableEdge(ctx context.Context, source, collection, from, to string) error {
	return c.call(ctx, &request{method: "PATCH", segs: []string{collection},
		query: url.Values{"source": {source}, "from": {from}, "to": {to}}, body: map[string]bool{"active": false}}, nil)
}

// MaxQueryBytes bounds a GraphQL answer that Query decodes whole. The
// answer is decoded as it streams (no copy of it is held), so memory is
// what out holds; QueryEach reads larger answers one item at a time.
const MaxQueryBytes = 64 << 20

// maxQueryBytes is MaxQueryBytes; tests lower it.
var maxQueryBytes int64 = MaxQueryBytes

// Query runs a v3 GraphQL query and decodes its "data" into out, as the
// answer streams in (at most MaxQueryBytes; for a collection of any size,
// use QueryEach). A 404 from the query endpoint is no result (out is left
// as it was), as IBM's framework reads it. out must be a non-nil pointer
// (or nil to discard the answer): anything else is refused before any
// call.
func (c *Client) Query(ctx context.Context, query string, out any) error {
	if out != nil {
		if v := reflect.ValueOf(out); v.Kind() != reflect.Pointer || v.IsNil() {
			return &ConfigError{Option: "Query out", Reason: fmt.Sprintf("want a non-nil pointer to decode the answer into, not %T", out)}
		}
	}
	return c.query(ctx, query, maxQueryBytes, func(dec *json.Decoder) error {
		if out == nil {
			var skip json.RawMessage
			return dec.Decode(&skip)
		}
		return dec.Decode(out)
	})
}

// QueryItems runs a v3 GraphQL query and yields each item of the list
// data.<collection>, decoded one at a time as the answer streams in:
// memory holds one item, whatever the answer's size. A failure, or a
// GraphQL error in the answer (after the items read before it), is
// yielded last; stopping the loop stops the reading. A 404 from the
// query endpoint yields nothing, as Query reads it.
func (c *Client) QueryItems(ctx context.Context, query, collection string) iter.Seq2[json.RawMessage, error] {
	return func(yield func(json.RawMessage, error) bool) {
		stopped := false
		err := c.queryEach(ctx, query, collection, func(item json.RawMessage) error {
			if !yield(item, nil) {
				stopped = true
				return errStopped
			}
			return nil
		})
		if !stopped && err != nil {
			yield(nil, err)
		}
	}
}

// errStopped ends a QueryItems reading its consumer stopped.
var errStopped = errors.New("car: the consumer stopped")

// QueryEach runs a v3 GraphQL query and calls fn with each item, as
// QueryItems yields them. fn's error stops the reading and is returned.
//
// Deprecated: use QueryItems, an iterator as the SDK's other listings
// are; QueryEach will be removed in the next release.
func (c *Client) QueryEach(ctx context.Context, query, collection string, fn func(item json.RawMessage) error) error {
	return c.queryEach(ctx, query, collection, fn)
}

func (c *Client) queryEach(ctx context.Context, query, collection string, fn func(item json.RawMessage) error) error {
	return c.query(ctx, query, 0, func(dec *json.Decoder) error {
		return eachInObject(dec, collection, func(dec *json.Decoder) error {
			if err := expectDelim(dec, '['); err != nil {
				if errors.Is(err, errNull) {
					return nil
				}
				return err
			}
			for dec.More() {
				var item json.RawMessage
				if err := dec.Decode(&item); err != nil {
					return err
				}
				if err := fn(item); err != nil {
					return &callbackError{err}
				}
			}
			_, err := dec.Token()
			return err
		})
	})
}

// callbackError carries the caller's error through the decoding.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

var errNull = errors.New("null")

// query posts a GraphQL query and hands the decoder to data when it reaches
// the answer's "data" value; errors are read wherever they come.
func (c *Client) query(ctx context.Context, query string, limit int64, data func(*json.Decoder) error) error {
	endpoint, body, err := c.open(ctx, &request{method: "POST", v3: true, segs: []string{"query"}, body: map[string]string{"query": query}, idempotent: true})
	if errors.Is(err, ErrNotFound) {
		// IBM's framework reads a 404 from the query endpoint as no
		// result (car_service.py query_graphql); so does this client.
		return nil
	}
	if err != nil {
		return err
	}
	defer body.Close()
	var r io.Reader = body
	counted := &countingReader{r: r}
	r = counted
	if limit > 0 {
		r = io.LimitReader(counted, limit+1)
	}
	dec := json.NewDecoder(r)
	var gqlErr string
	err = eachInObject(dec, "", func(dec *json.Decoder) error { return nil }, func(key string, dec *json.Decoder) error {
		switch key {
		case "data":
			return data(dec)
		case "errors":
			var errs []struct {
				Message string `json:"message"`
			}
			if err := dec.Decode(&errs); err != nil {
				return err
			}
			if len(errs) > 0 {
				gqlErr = errs[0].Message
			}
			return nil
		}
		var skip json.RawMessage
		return dec.Decode(&skip)
	})
	var cb *callbackError
	switch {
	case errors.As(err, &cb):
		return cb.err
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil && limit > 0 && counted.n > limit:
		return &Error{Method: "POST", Endpoint: endpoint, StatusCode: 200, Message: fmt.Sprintf("GraphQL answer larger than %d bytes (MaxQueryBytes); read a large collection with QueryItems", limit)}
	case err != nil:
		var idle bool
		if errors.Is(err, ErrIdleTimeout) {
			idle = true
		}
		e := &Error{Method: "POST", Endpoint: endpoint, StatusCode: 200, Message: redact.Scrub("unreadable GraphQL answer: "+err.Error(), c.secrets()...)}
		if idle {
			e.Err = err
		}
		return e
	case gqlErr != "":
		return &Error{Method: "POST", Endpoint: endpoint, Message: "GraphQL: " + redact.Scrub(gqlErr, c.secrets()...)}
	}
	return nil
}

// eachInObject reads a JSON object: with want set, it calls one for the
// value of that key only (skipping the others); otherwise every(key, dec)
// for each key. A null object is no keys.
func eachInObject(dec *json.Decoder, want string, one func(*json.Decoder) error, every ...func(string, *json.Decoder) error) error {
	if err := expectDelim(dec, '{'); err != nil {
		if errors.Is(err, errNull) {
			return nil
		}
		return err
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		switch {
		case len(every) > 0:
			err = every[0](key, dec)
		case key == want:
			err = one(dec)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}

// expectDelim reads the next token, which must be d (errNull for null).
func expectDelim(dec *json.Decoder, d json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t == nil {
		return errNull
	}
	if got, ok := t.(json.Delim); !ok || got != d {
		return fmt.Errorf("want %q, got %v", d, t)
	}
	return nil
}

// countingReader counts the bytes read.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// roundWait rounds a wait for a message: to 10 ms under 10 s, else to the
// second.
func roundWait(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// nowMillis is the report timestamp of an import started now.
func nowMillis() float64 { return float64(time.Now().UnixNano()/1000) / 1000 }
