package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/examples/internal/cli"
)

// IBM's connector (connectors/qualys in IBM/cp4s-car-connectors, on the
// car-connector-framework 3.0) is started with the framework's flags and
// environment variables; this program accepts all of them, so that an
// operator switching keeps the command line and the pod environment.
//
//	flag                           environment                      here
//	-car-service-url               CAR_SERVICE_URL                  the CAR API URL (-url)
//	-car-service-key               CAR_SERVICE_KEY                  CAR API key (-api_key)
//	-car-service-password          CAR_SERVICE_PASSWORD             CAR API password (-car_password)
//	-car-service-url-for-token     CAR_SERVICE_URL_FOR_AUTHTOKEN    CAR URL used with a token
//	-car-service-token             CAR_SERVICE_AUTHTOKEN            CAR token (-car_token); wins over a key
//	-source                        CONNECTION_NAME                  CAR source id
//	-name                          CONNECTOR_NAME                   connector name, written in the import report
//	-version                       CONNECTOR_VERSION                connector version, written in the import report
//	-d                             DEBUG                            debug logging
//	-connection-test               DATASOURCE_CONNECTION_TEST       check Qualys and CAR, then exit
//	-qualys_url                    CONNECTION_HOST                  Qualys API server (a bare host name or IP, as IBM's form gives it, means https://host)
//	-qualys_gateway                CONFIGURATION_AUTH_QUALYS_GATEWAY
//	-username                      CONFIGURATION_AUTH_USERNAME
//	-password                      CONFIGURATION_AUTH_PASSWORD      Qualys password
//	-update_existing_vulnerability_cve  UPDATE_EXISTING_VULNERABILITY_CVE  refresh the KnowledgeBase fields of the vulnerabilities in CAR
//	-export-data-dir, -keep-export-data-dir, -export-data-page-size: accepted and ignored
//	(with one warning): this connector streams to CAR and writes no export files.
//
// A flag wins over its variable, and a variable over qualys_config.json.

// ibmFlags registers the framework's flags on fs, bound to the options they
// mean here.
func ibmFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.carURL, "car-service-url", "", "IBM framework name of -url")
	fs.StringVar(&o.apiKey, "car-service-key", "", "IBM framework name of -api_key (prefer CAR_SERVICE_KEY or CAR_API_KEY)")
	fs.StringVar(&o.carPassword, "car-service-password", "", "IBM framework name of -car_password (prefer CAR_SERVICE_PASSWORD or CAR_PASSWORD)")
	fs.StringVar(&o.carTokenURL, "car-service-url-for-token", "", "CAR API URL used with -car-service-token (IBM framework)")
	fs.StringVar(&o.carToken, "car-service-token", "", "IBM framework name of -car_token (prefer CAR_SERVICE_AUTHTOKEN or CAR_TOKEN)")
	fs.StringVar(&o.connectorName, "name", "", "connector name written in the import report (IBM framework)")
	fs.StringVar(&o.connectorVersion, "version", "", "connector version written in the import report (IBM framework)")
	fs.BoolVar(&o.connectionTest, "connection-test", false, "check that Qualys and CAR answer with the credentials given, then exit (IBM framework)")
	fs.StringVar(&o.exportDir, "export-data-dir", "", "accepted for the IBM framework; ignored (no export files are written)")
	fs.BoolVar(&o.keepExport, "keep-export-data-dir", false, "accepted for the IBM framework; ignored")
	fs.IntVar(&o.exportPageSize, "export-data-page-size", 0, "accepted for the IBM framework; ignored (batches are sized for CAR's limits)")
	fs.BoolVar(&o.updateVulnCVE, "update_existing_vulnerability_cve", false, "in an incremental run, also refresh the KnowledgeBase fields (title, CVEs, CVSS, texts) of every vulnerability already in CAR (IBM connector flag)")
}

// ibmEnv fills the options that neither a flag set from the framework's
// environment variables. Secrets are read where the other secrets are (see
// configure), so that they are never in options.
func ibmEnv(o *options, getenv func(string) string) {
	str := func(flagName, env string, dst *string) {
		if v := strings.TrimSpace(getenv(env)); v != "" && !o.explicit[flagName] && *dst == "" {
			*dst = v
			o.fromEnv = append(o.fromEnv, env)
			if flagName == "qualys_url" || flagName == "qualys_gateway" {
				o.explicit[flagName] = true // the Qualys server was named
			}
		}
	}
	str("url", "CAR_SERVICE_URL", &o.carURL)
	str("car-service-url-for-token", "CAR_SERVICE_URL_FOR_AUTHTOKEN", &o.carTokenURL)
	str("source", "CONNECTION_NAME", &o.source)
	str("name", "CONNECTOR_NAME", &o.connectorName)
	str("version", "CONNECTOR_VERSION", &o.connectorVersion)
	str("qualys_url", "CONNECTION_HOST", &o.qualysURL)
	str("qualys_gateway", "CONFIGURATION_AUTH_QUALYS_GATEWAY", &o.gateway)
	str("username", "CONFIGURATION_AUTH_USERNAME", &o.username)
	boolean := func(flagName, env string, dst *bool) {
		if !o.explicit[flagName] && truthy(getenv(env)) {
			*dst = true
		}
	}
	boolean("d", "DEBUG", &o.debug)
	boolean("connection-test", "DATASOURCE_CONNECTION_TEST", &o.connectionTest)
	boolean("update_existing_vulnerability_cve", "UPDATE_EXISTING_VULNERABILITY_CVE", &o.updateVulnCVE)
}

func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "y", "on":
		return true
	}
	return false
}

// warnIgnored says once which framework flags have no effect here.
func warnIgnored(o *options, logger *slog.Logger) {
	var ignored []string
	for _, name := range []string{"export-data-dir", "keep-export-data-dir", "export-data-page-size"} {
		if o.explicit[name] {
			ignored = append(ignored, "-"+name)
		}
	}
	if len(ignored) > 0 {
		logger.Warn("IBM framework flags ignored: this connector streams to CAR and writes no export files", "flags", strings.Join(ignored, ", "))
	}
}

// connectionTest checks Qualys (the QPS API with one count call, the
// gateway's login when one is configured) and CAR (its database status),
// and reports each, as text or, with -json, as one JSON document; it exits
// with the code of the first failure (the framework's codes: 51-55 for
// Qualys, 10 or 2 for CAR).
func connectionTest(ctx context.Context, cfg carsync.Config, o *options, stdout, stderr io.Writer) int {
	type check struct {
		name string
		run  func() error
	}
	checks := []check{
		{"qualys", func() error { _, err := cfg.Qualys.HostAssets.Count(ctx, nil); return err }},
	}
	if o.gateway != "" {
		checks = append(checks, check{"qualys_gateway", func() error { return cfg.Qualys.Assets.Login(ctx) }})
	}
	checks = append(checks, check{"car", func() error { _, err := cfg.CAR.DatabaseStatus(ctx); return err }})
	result := map[string]string{}
	code := exitOK
	var first error
	for _, c := range checks {
		if err := c.run(); err != nil {
			result[c.name] = err.Error()
			if code == exitOK {
				code, first = exitCode(ctx, err), err
			}
			continue
		}
		result[c.name] = "ok"
	}
	if o.json {
		doc := map[string]any{"connection_test": result, "ok": code == exitOK, "exit_code": code}
		if first != nil {
			doc["error"] = first.Error()
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(doc)
		return code
	}
	for _, c := range checks {
		if v := result[c.name]; v == "ok" {
			fmt.Fprintf(stdout, "connection test: %s ok\n", displayName[c.name])
		} else {
			fmt.Fprintf(stdout, "connection test: %s failed: %s\n", displayName[c.name], cli.Explain(v))
		}
	}
	return code
}

var displayName = map[string]string{"qualys": "Qualys", "qualys_gateway": "Qualys gateway", "car": "CAR"}
