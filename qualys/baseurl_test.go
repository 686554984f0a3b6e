package qualys_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// A base URL with an API path, or the gateway and API server swapped, is a
// base-URL error naming the URL to give, never a refused API version.
func TestBaseURLMistakes(t *testing.T) {
	t.Parallel()
	srv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(1, 3)))
	defer srv.Close()
	user, pass := srv.Credentials()
	creds := qualys.WithCredentials(user, pass)
	check := func(name string, err error, want string) {
		t.Helper()
		var be *qualys.BaseURLError
		if !errors.As(err, &be) || !errors.Is(err, qualys.ErrBaseURL) || errors.Is(err, qualys.ErrVersionUnsupported) ||
			!strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "WithEndpointVersion") {
			t.Errorf("%s: err = %v; want a BaseURLError saying %q, not a version error", name, err, want)
		}
	}
	// Caught at NewClient.
	_, err := qualys.NewClient(srv.URL+"/api/2.0/fo", creds, qualys.WithInsecureLoopback())
	check("API path", err, "carries an API path (/api/2.0/fo); give the server only, such as "+srv.URL)
	_, err = qualys.NewClient("https://gateway.qg3.apps.qualys.com", creds)
	check("gateway as API", err, "this is a Qualys gateway")
	_, err = qualys.NewClient("https://qualysapi.qg3.apps.qualys.com", creds, qualys.WithGateway("https://qualysapi.qg3.apps.qualys.com"))
	check("API as gateway", err, "this is a Qualys API server")

	// Caught from the answer, where the host names do not tell.
	swapped, err := qualys.NewClient(srv.GatewayURL, creds, qualys.WithInsecureLoopback(), qualys.WithGateway(srv.URL), qualys.WithRetry(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range swapped.Detections.List(context.Background(), nil) {
		check("gateway answering an API call", err, "it answers as a Qualys gateway")
		break
	}
	for _, err := range swapped.Assets.List(context.Background(), nil) {
		check("API server answering a gateway call", err, "does not answer as a Qualys gateway")
		break
	}
	prefixed, err := qualys.NewClient(srv.URL+"/proxy", creds, qualys.WithInsecureLoopback(), qualys.WithRetry(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range prefixed.Detections.List(context.Background(), nil) {
		check("a path the server does not know", err, "under the base URL's path /proxy")
		break
	}
}
