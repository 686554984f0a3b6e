package qbrecord

import (
	"crypto/sha256"
	"encoding/json"
	"net/url"
	"strings"
)

// matchKey is what a request is matched on: its method, path, query and
// body, each in the form they are compared in (normalForm, normalJSON),
// hashed so that a replay holds 32 bytes per recorded request, whatever
// its size. body is the request body as the scrubber wrote it.
func matchKey(method, path string, query url.Values, body []byte, contentType string) [32]byte {
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write([]byte(path))
	h.Write([]byte{0})
	h.Write([]byte(normalForm(query).Encode()))
	h.Write([]byte{0})
	switch kindOf(contentType, body) {
	case formBody:
		if v, err := url.ParseQuery(string(body)); err == nil {
			h.Write([]byte("form:" + normalForm(v).Encode()))
			break
		}
		h.Write(body)
	case jsonBody:
		var v any
		if json.Unmarshal(body, &v) == nil {
			b, _ := json.Marshal(normalJSON(v))
			h.Write([]byte("json:"))
			h.Write(b)
			break
		}
		h.Write(body)
	default:
		h.Write(body)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// normalForm puts form values in the form they are compared in: secrets
// and identities blanked (a replay may use other credentials), and a
// search list's title blanked (the ThreatQ operation makes it unique per
// run).
func normalForm(v url.Values) url.Values {
	out := url.Values{}
	for k, vals := range v {
		for _, x := range vals {
			if classify(k) != plainField {
				x = "[BLANK]"
			}
			out[k] = append(out[k], x)
		}
	}
	if out.Get("action") == "create" && out.Has("title") {
		out.Set("title", "[TITLE]")
	}
	return out
}

// volatileJSON are CAR fields that carry the time of the run (the import
// report's key and timestamp, the edges' timestamps, the model state): a
// replay at another time sends other values for the same request.
var volatileJSON = map[string]bool{"report": true, "timestamp": true, "model_state_id": true}

// normalJSON blanks the identity, secret and volatile fields of a JSON
// body (see normalForm).
func normalJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if classify(k) != plainField || volatileJSON[strings.ToLower(k)] {
				x[k] = "[BLANK]"
			} else {
				x[k] = normalJSON(val)
			}
		}
	case []any:
		for i := range x {
			x[i] = normalJSON(x[i])
		}
	}
	return v
}
