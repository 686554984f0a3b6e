package qualysbridge_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/threatq"
)

// forged is server text meant to forge a log line and drive a terminal.
const forged = "denied\nlevel=INFO msg=\"all good\"\x1b[2J\x1b]0;owned\x07\u202e"

// Server text quoted in an error reaches no terminal raw: newlines, ESC and
// bidirectional overrides from every client's error path are escaped
// (each case failed before redact.Clean: the text went through as sent).
func TestServerTextInErrorsIsCleaned(t *testing.T) {
	answer := func(status int, ctype, body string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/token") || strings.HasSuffix(r.URL.Path, "/auth") {
				if strings.HasSuffix(r.URL.Path, "/auth") {
					w.WriteHeader(201)
					io.WriteString(w, mGatewayJWT)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"access_token":"a","refresh_token":"b","expires_in":3600}`)
				return
			}
			w.Header().Set("Content-Type", ctype)
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	esc := func(s string) string { // as a JSON string's content
		r := strings.NewReplacer("\n", `\n`, "\x1b", `\u001b`, "\x07", `\u0007`, `"`, `\"`)
		return r.Replace(s)
	}
	ctx := context.Background()
	qualysClient := func(srv *httptest.Server) *qualys.Client {
		c, err := qualys.NewClient(srv.URL, qualys.WithCredentials(mUser, mPass), qualys.WithInsecureLoopback(), qualys.WithGateway(srv.URL),
			qualys.WithRetry(1, time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cases := map[string]func() error{
		"qualys FO": func() error {
			srv := answer(400, "text/xml", "<SIMPLE_RETURN><RESPONSE><CODE>999</CODE><TEXT>"+strings.ReplaceAll(forged, "\x1b", "&#27;")+"</TEXT></RESPONSE></SIMPLE_RETURN>")
			for _, err := range qualysClient(srv).Detections.List(ctx, nil) {
				return err
			}
			return nil
		},
		"qualys QPS": func() error {
			srv := answer(200, "application/json", `{"ServiceResponse":{"responseCode":"INVALID_REQUEST","responseErrorDetails":{"errorMessage":"`+esc(forged)+`"}}}`)
			_, err := qualysClient(srv).HostAssets.Count(ctx, nil)
			return err
		},
		"qualys gateway": func() error {
			srv := answer(400, "application/json", `{"errorCode":"X","message":"`+esc(forged)+`"}`)
			for _, err := range qualysClient(srv).Assets.List(ctx, nil) {
				return err
			}
			return nil
		},
		"qualys KnowledgeBase": func() error {
			srv := answer(200, "text/xml", "<SIMPLE_RETURN><RESPONSE><CODE>1905</CODE><TEXT>"+strings.ReplaceAll(forged, "\x1b", "&#27;")+"</TEXT></RESPONSE></SIMPLE_RETURN>")
			for _, err := range qualysClient(srv).KnowledgeBase.List(ctx, &qualys.KnowledgeBaseQuery{QIDs: []int64{1}}) {
				return err
			}
			return nil
		},
		"CAR": func() error {
			srv := answer(400, "application/json", `{"message":"`+esc(forged)+`","error_code":"x`+esc("\x1b[1m")+`","trace_id":"t\n1"}`)
			c, err := car.NewClient(srv.URL+"/api/car/v2", car.WithAPIKey(mAPIKey, mCARPass), car.WithInsecureLoopback(), car.WithRetry(1, time.Second))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ImportStatus(ctx, []string{"1"})
			return err
		},
		"ThreatQ": func() error {
			srv := answer(400, "application/json", `{"errors":["`+esc(forged)+`"]}`)
			c, err := threatq.NewClient(srv.URL, threatq.WithClientCredentials(mTQClient, mTQSecret), threatq.WithInsecureLoopback(), threatq.WithRetry(1, time.Second))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.AssetCollection(ctx)
			return err
		},
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			err := call()
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r\x1b\x07\u202e") {
				t.Errorf("the error holds raw control text: %q", msg)
			}
			if !strings.Contains(msg, "denied") {
				t.Errorf("the server's text is gone instead of cleaned: %q", msg)
			}
		})
	}
}
