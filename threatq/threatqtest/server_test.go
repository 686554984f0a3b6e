package threatqtest

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestTokenRequestForms(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	forms := []*http.Request{}
	a, _ := http.NewRequest("POST", srv.URL+"/api/token?grant_type=password&client_id="+ClientID, strings.NewReader(`{"email":"`+Email+`","password":"`+Password+`"}`))
	a.Header.Set("Content-Type", "application/json")
	b, _ := http.NewRequest("POST", srv.URL+"/api/token", strings.NewReader(`{"email":"`+Email+`","password":"`+Password+`","grant_type":"password","client_id":"`+ClientID+`"}`))
	b.Header.Set("Content-Type", "application/json")
	c, _ := http.NewRequest("POST", srv.URL+"/api/token", strings.NewReader(url.Values{"grant_type": {"password"}, "email": {Email}, "password": {Password}, "client_id": {ClientID}}.Encode()))
	c.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	d, _ := http.NewRequest("POST", srv.URL+"/api/token?grant_type=client_credentials", nil)
	d.SetBasicAuth(ClientID, ClientSecret)
	forms = append(forms, a, b, c, d)
	for i, req := range forms {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "access_token") {
			t.Errorf("form %c: %d %s", 'A'+i, resp.StatusCode, body)
		}
	}
	bad, _ := http.NewRequest("POST", srv.URL+"/api/token?grant_type=password&client_id="+ClientID, strings.NewReader(`{"email":"x","password":"y"}`))
	bad.Header.Set("Content-Type", "application/json")
	resp, _ := http.DefaultClient.Do(bad)
	if resp.StatusCode != 400 {
		t.Errorf("bad credentials: %d", resp.StatusCode)
	}
	resp.Body.Close()
	unauth, _ := http.Get(srv.URL + "/api/objects")
	if unauth.StatusCode != 401 {
		t.Errorf("no token: %d", unauth.StatusCode)
	}
	unauth.Body.Close()
}
