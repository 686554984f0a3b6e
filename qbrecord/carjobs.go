package qbrecord

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// CAR import jobs are asynchronous: how often and with which ids a client
// polls importstatus depends on timing, so those polls cannot be matched
// one to one. When replaying, importstatus is answered from what the
// recording proves instead: a job the recording saw created (POST imports)
// is complete, unless a recorded status listed it under error_imports
// (then it failed again, with the recorded error); an id the recording
// never saw is under notfound_imports.
type carJobs struct {
	created map[string]bool
	failed  map[string]json.RawMessage
}

func newCARJobs() *carJobs {
	return &carJobs{created: map[string]bool{}, failed: map[string]json.RawMessage{}}
}

// note reads what one recorded exchange proves about CAR's jobs.
func (j *carJobs) note(x *exchange, path string) {
	switch {
	case x.Request.Method == "POST" && strings.HasSuffix(path, "/imports"):
		var out struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(x.Response.bytes(), &out) == nil && out.ID != "" {
			j.created[out.ID] = true
		}
	case x.Request.Method == "GET" && strings.HasSuffix(path, "/importstatus"):
		var out struct {
			Errors []json.RawMessage `json:"error_imports"`
		}
		if json.Unmarshal(x.Response.bytes(), &out) == nil {
			for _, e := range out.Errors {
				var id struct {
					ID string `json:"id"`
				}
				if json.Unmarshal(e, &id) == nil && id.ID != "" {
					j.failed[id.ID] = e
				}
			}
		}
	}
}

// done returns the jobs, or nil when the recording created none (then
// importstatus is replayed as recorded).
func (j *carJobs) done() *carJobs {
	if len(j.created) == 0 {
		return nil
	}
	return j
}

// answer builds the importstatus answer for the ids asked, or nil when the
// request is not an importstatus poll.
func (j *carJobs) answer(req *http.Request) *http.Response {
	if j == nil || req.Method != "GET" || !strings.HasSuffix(req.URL.Path, "/importstatus") {
		return nil
	}
	out := map[string][]any{"complete_imports": {}, "incomplete_imports": {}, "notfound_imports": {}, "error_imports": {}}
	for _, id := range strings.Split(req.URL.Query().Get("ids"), ",") {
		switch {
		case id == "":
		case j.failed[id] != nil:
			out["error_imports"] = append(out["error_imports"], j.failed[id])
		case j.created[id]:
			out["complete_imports"] = append(out["complete_imports"], map[string]string{"id": id})
		default:
			out["notfound_imports"] = append(out["notfound_imports"], id)
		}
	}
	b, _ := json.Marshal(out)
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: req}
}
