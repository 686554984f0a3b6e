package qualys

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/redact"
	"github.com/qualysbridge/qualysbridge/internal/retry"
)

// fillError decodes any of the error body shapes Qualys APIs use into e.
func fillError(e *Error, contentType string, body []byte) {
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		e.Message = http.StatusText(e.StatusCode) + " (empty body)"
		return
	case trimmed[0] == '{':
		var j struct {
			Message         string          `json:"message"`
			Error           string          `json:"error"`
			ResponseCode    string          `json:"responseCode"`
			ResponseMessage string          `json:"responseMessage"`
			ServiceResponse *qpsErrorFields `json:"ServiceResponse"`
		}
		if json.Unmarshal(trimmed, &j) == nil {
			switch {
			case j.ServiceResponse != nil:
				e.Code = j.ServiceResponse.ResponseCode
				e.Message = j.ServiceResponse.text()
			default:
				if j.ResponseCode != "" && !strings.EqualFold(j.ResponseCode, "SUCCESS") {
					e.Code = j.ResponseCode
				}
				e.Message = firstNonEmpty(j.Message, j.ResponseMessage, j.Error)
			}
			if e.Message != "" || e.Code != "" {
				return
			}
		}
	case trimmed[0] == '<':
		root, kind := rootElement(trimmed)
		switch {
		case root == "SIMPLE_RETURN":
			if sr, err := parseSimpleReturn(trimmed); err == nil {
				e.Code, e.Message = sr.Code, sr.Text
				e.RetryAfter = sr.secondsToWait()
				return
			}
		case root == "ServiceResponse":
			var x qpsErrorFields
			if xml.Unmarshal(trimmed, &x) == nil && x.ResponseCode != "" {
				e.Code, e.Message = x.ResponseCode, x.text()
				return
			}
		case kind == bodyHTML:
			e.Message = "got an HTML page instead of an API response (a proxy or maintenance page?)"
			e.setSnippet(trimmed)
			e.kind = kindBadBody
			return
		}
	}
	e.Message = "unexpected " + describeBody(contentType, bodyOther) + " body"
	e.setSnippet(trimmed)
	e.kind = kindBadBody
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

func describeBody(contentType string, kind bodyKind) string {
	switch {
	case kind == bodyHTML:
		return "an HTML page (a proxy or maintenance page?)"
	case contentType != "":
		return "content of type " + strconv.Quote(contentType)
	}
	return "content that is neither XML nor JSON"
}

// qpsErrorFields is the error part of a QPS ServiceResponse, in XML or JSON.
type qpsErrorFields struct {
	ResponseCode        string `xml:"responseCode" json:"responseCode"`
	ResponseErrorDetail struct {
		ErrorMessage    string `xml:"errorMessage" json:"errorMessage"`
		ErrorResolution string `xml:"errorResolution" json:"errorResolution"`
	} `xml:"responseErrorDetails" json:"responseErrorDetails"`
}

// outcome is the error a ServiceResponse with responseCode code stands
// for (nil for SUCCESS): a missing code is an error too.
func (q *qpsErrorFields) outcome(path, action, code string) error {
	switch code {
	case "SUCCESS":
		return nil
	case "":
		return &Error{Endpoint: path, Action: action, Message: "ServiceResponse without a responseCode"}
	}
	q.ResponseCode = code
	return &Error{Endpoint: path, Action: action, Code: code, Message: redact.Snippet([]byte(q.text()), 500)}
}

func (q *qpsErrorFields) text() string {
	t := strings.TrimSpace(q.ResponseErrorDetail.ErrorMessage)
	if r := strings.TrimSpace(q.ResponseErrorDetail.ErrorResolution); r != "" {
		if t != "" {
			t += " "
		}
		t += "(" + r + ")"
	}
	if t == "" {
		t = "request failed with responseCode " + q.ResponseCode
	}
	return t
}

// simpleReturn is the FO API's SIMPLE_RETURN body.
type simpleReturn struct {
	Datetime string
	Code     string
	Text     string
	Items    [][2]string
}

// secondsToWait is the SECONDS_TO_WAIT item, 0 when absent or unreadable.
func (s *simpleReturn) secondsToWait() time.Duration {
	if v, ok := s.item("SECONDS_TO_WAIT"); ok {
		if d, ok := retry.Seconds(v); ok {
			return d
		}
	}
	return 0
}

func (s *simpleReturn) item(key string) (string, bool) {
	for _, it := range s.Items {
		if it[0] == key {
			return it[1], true
		}
	}
	return "", false
}

func parseSimpleReturn(body []byte) (*simpleReturn, error) {
	var x struct {
		XMLName  xml.Name `xml:"SIMPLE_RETURN"`
		Response struct {
			Datetime string `xml:"DATETIME"`
			Code     string `xml:"CODE"`
			Text     string `xml:"TEXT"`
			Items    []struct {
				Key   string   `xml:"KEY"`
				Value []string `xml:"VALUE"`
			} `xml:"ITEM_LIST>ITEM"`
		} `xml:"RESPONSE"`
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	if err := d.Decode(&x); err != nil {
		return nil, err
	}
	sr := &simpleReturn{
		Datetime: strings.TrimSpace(x.Response.Datetime),
		Code:     strings.TrimSpace(x.Response.Code),
		Text:     strings.TrimSpace(x.Response.Text),
	}
	for _, it := range x.Response.Items {
		v := ""
		if len(it.Value) > 0 {
			v = strings.TrimSpace(it.Value[0])
		}
		sr.Items = append(sr.Items, [2]string{strings.TrimSpace(it.Key), v})
	}
	return sr, nil
}

type bodyKind int

const (
	bodyXML bodyKind = iota
	bodyEmpty
	bodyHTML
	bodyOther
)

// rootElement finds the name of the root element at the start of an XML
// document, skipping the declaration, white space, comments, processing
// instructions and a DOCTYPE. It recognises HTML pages and empty bodies.
func rootElement(b []byte) (string, bodyKind) {
	i := 0
	if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		i = 3
	}
	for {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
			i++
		}
		if i >= len(b) {
			if len(bytes.TrimSpace(b)) == 0 {
				return "", bodyEmpty
			}
			return "", bodyXML // not enough bytes to decide; let the decoder say
		}
		if b[i] != '<' {
			return "", bodyOther
		}
		rest := b[i:]
		switch {
		case bytes.HasPrefix(rest, []byte("<?")):
			end := bytes.Index(rest, []byte("?>"))
			if end < 0 {
				return "", bodyXML
			}
			i += end + 2
		case bytes.HasPrefix(rest, []byte("<!--")):
			end := bytes.Index(rest[4:], []byte("-->"))
			if end < 0 {
				return "", bodyXML
			}
			i += 4 + end + 3
		case len(rest) >= 9 && bytes.EqualFold(rest[:9], []byte("<!DOCTYPE")):
			if len(rest) >= 14 && bytes.EqualFold(bytes.TrimSpace(rest[9:14]), []byte("html")) {
				return "", bodyHTML
			}
			depth := 0
			j := 9
			for ; j < len(rest); j++ {
				if rest[j] == '[' {
					depth++
				} else if rest[j] == ']' {
					depth--
				} else if rest[j] == '>' && depth <= 0 {
					break
				}
			}
			if j >= len(rest) {
				return "", bodyXML
			}
			i += j + 1
		default:
			j := 1
			for j < len(rest) && !strings.ContainsRune(" \t\r\n/>", rune(rest[j])) {
				j++
			}
			name := string(rest[1:j])
			if strings.EqualFold(name, "html") || strings.EqualFold(name, "head") || strings.EqualFold(name, "body") {
				return name, bodyHTML
			}
			return name, bodyXML
		}
	}
}
