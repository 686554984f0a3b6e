package clientopt

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw      string
		loopback bool
		wantPath string // when accepted
		wantErr  string // when refused
	}{
		{raw: "https://api.example.com", wantPath: ""},
		{raw: " https://api.example.com/ ", wantPath: ""},
		{raw: "https://api.example.com/api-v3/", wantPath: "/api-v3"},
		{raw: "https://api.example.com/a/b", wantPath: "/a/b"},
		{raw: "http://127.0.0.1:8080/prefix", loopback: true, wantPath: "/prefix"},
		{raw: "http://[::1]:8080", loopback: true, wantPath: ""},
		{raw: "http://localhost", loopback: true, wantPath: ""},
		{raw: "http://127.0.0.1:8080", wantErr: "must be https://"},
		{raw: "http://api.example.com", loopback: true, wantErr: "only for loopback hosts"},
		{raw: "https://user:s3cr@t@api.example.com", wantErr: "must not contain credentials"},
		{raw: "https://api.example.com/?x=1", wantErr: "query or fragment"},
		{raw: "https://api.example.com/?", wantErr: "query or fragment"},
		{raw: "https://api.example.com/#frag", wantErr: "query or fragment"},
		{raw: "ftp://api.example.com", wantErr: "want an absolute URL"},
		{raw: "api.example.com", wantErr: "want an absolute URL"},
		{raw: "", wantErr: "want an absolute URL"},
	}
	for _, tt := range tests {
		u, err := ParseBaseURL("base URL", tt.raw, tt.loopback, "https://x.example.com")
		if tt.wantErr != "" {
			var p *Problem
			if !errors.As(err, &p) || p.Option != "base URL" || !strings.Contains(p.Reason, tt.wantErr) {
				t.Errorf("%q: error %v, want a Problem containing %q", tt.raw, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "s3cr") {
				t.Errorf("%q: the error shows the password: %v", tt.raw, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.raw, err)
			continue
		}
		if u.Path != tt.wantPath {
			t.Errorf("%q: path %q, want %q", tt.raw, u.Path, tt.wantPath)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://u:p@ss@host/x": "https://[REDACTED]@host/x",
		"u:pw@host":             "[REDACTED]@host",
		"https://host/x":        "https://host/x",
		"ftp://host/?token=t0k": "ftp://host/[REDACTED]",
		"host#access_token=t0k": "host[REDACTED]",
		"https://u:p?ss@host/x": "https://[REDACTED]@host/x",
	} {
		if got := RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestCommonOptionsAndDefaults(t *testing.T) {
	t.Parallel()
	var c Common
	for name, err := range map[string]error{
		"WithHTTPClient": c.SetHTTPClient(nil),
		"WithLogger":     c.SetLogger(nil),
		"WithUserAgent":  c.SetUserAgent(" "),
		"WithRetry":      c.SetRetry(0, time.Second),
		"WithBackoff":    c.SetBackoff(nil),
	} {
		var p *Problem
		if !errors.As(err, &p) || p.Option != name {
			t.Errorf("%s: error %v, want a Problem for it", name, err)
		}
	}
	if err := c.SetUserAgent("a\r\nX-Evil: 1"); err == nil {
		t.Error("a user agent with a line break was accepted")
	}
	if err := c.SetRetry(1, -time.Second); err == nil {
		t.Error("a negative maxWait was accepted")
	}
	d := Defaults{UserAgent: "ua/1", MaxAttempts: 3, MaxWait: time.Minute, BackoffBase: time.Second}
	c.Finish(d)
	if c.UserAgent != "ua/1" || c.MaxAttempts != 3 || c.MaxWait != time.Minute || c.HTTPClient == nil || c.Logger == nil || c.Backoff == nil {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if c.HTTPClient.CheckRedirect == nil {
		t.Error("the default HTTP client follows redirects")
	}
	if w := c.Backoff(10); w > time.Minute {
		t.Errorf("backoff %v exceeds maxWait", w)
	}
	set := Common{}
	if err := set.SetRetry(1, 0); err != nil {
		t.Fatal(err)
	}
	set.Finish(d)
	if set.MaxAttempts != 1 || set.MaxWait != 0 {
		t.Errorf("Finish overrode WithRetry(1, 0): %d, %v", set.MaxAttempts, set.MaxWait)
	}
}
