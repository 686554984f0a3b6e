package threatqtest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
)

// token logs in with the default password and returns the access token.
func token(t *testing.T, srv *threatqtest.Server) string {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/api/token", strings.NewReader(`{"email":"`+threatqtest.Email+`","password":"`+threatqtest.Password+`","grant_type":"password","client_id":"`+threatqtest.ClientID+`"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(res.Body).Decode(&out)
	return out.AccessToken
}

// The fake takes what ThreatQ's public clients send to the indicator
// query and refuses, never empties, what it does not know.
func TestIndicatorQueryForms(t *testing.T) {
	srv := threatqtest.NewServer()
	defer srv.Close()
	c, err := threatq.NewClient(srv.URL, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: threatqtest.ClientID, Email: threatqtest.Email, Password: threatqtest.Password}), threatq.WithInsecureLoopback())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, v := range []string{"CVE-2021-44228", "CVE-2019-17053", "CVE-2020-0601"} {
		if _, err := c.EnsureIndicator(ctx, threatq.Indicator{Type: "CVE", Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	query := func(sortBy string, filters map[string]any) (int, string) {
		body, _ := json.Marshal(map[string]any{"criteria": map[string]any{}, "filters": filters})
		req, _ := http.NewRequest("POST", srv.URL+"/api/indicators/query?sort="+sortBy, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		tok := token(t, srv)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, c := range []struct {
		name, sort string
		filters    map[string]any
		status     int
		want       string
	}{
		{"sort -updated_at", "-updated_at", map[string]any{"type_name": "CVE"}, 200, `"total":3`},
		{"sort -created_at,id", "-created_at,id", map[string]any{"type_name": "CVE"}, 200, `"value":"CVE-2020-0601"`},
		{"status_name", "id", map[string]any{"status_name": "Active"}, 200, `"total":3`},
		{"value is", "id", map[string]any{"value": map[string]any{"is": "CVE-2019-17053"}}, 200, `"total":1`},
		{"value +contains", "id", map[string]any{"value": map[string]any{"+contains": "2021"}}, 200, `"total":1`},
		{"unknown operator", "id", map[string]any{"value": map[string]any{"+regex": "."}}, 400, "unknown value operator"},
		{"unknown sort", "name", map[string]any{}, 400, "sorts by"},
	} {
		status, body := query(c.sort, c.filters)
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s; want %d with %s", c.name, status, body, c.status, c.want)
		}
	}
}
