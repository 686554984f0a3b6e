package cli

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/qualysbridge/qualysbridge/qualys"
)

// VersionsFlagHelp documents -qualys_versions.
const VersionsFlagHelp = "Qualys FO API versions to use instead of the current ones, comma-separated endpoint=version: detections, knowledge_base, search_lists, asset_groups (e.g. detections=5.0)"

// versionNames are the names -qualys_versions takes.
var versionNames = map[string]qualys.Endpoint{
	"detections":     qualys.EndpointDetections,
	"knowledge_base": qualys.EndpointKnowledgeBase,
	"search_lists":   qualys.EndpointSearchLists,
	"asset_groups":   qualys.EndpointAssetGroups,
}

// VersionOptions parses -qualys_versions.
func VersionOptions(v string) ([]qualys.Option, error) {
	var opts []qualys.Option
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, version, ok := strings.Cut(part, "=")
		e, known := versionNames[strings.TrimSpace(name)]
		if !ok || !known {
			return nil, fmt.Errorf("-qualys_versions: %q is not endpoint=version with an endpoint among detections, knowledge_base, search_lists, asset_groups", part)
		}
		opts = append(opts, qualys.WithEndpointVersion(e, strings.TrimSpace(version)))
	}
	return opts, nil
}

var (
	endpointOption = regexp.MustCompile(`WithEndpointVersion\(qualys\.Endpoint(\w+), \.\.\.\)`)
	optionWords    = strings.NewReplacer(
		"use WithGateway (see Platform)", "set -qualys_gateway (or -platform)",
		"with WithGateway and this one as the base URL", "with -qualys_gateway and this one as -qualys_url",
		"as the base URL and the gateway with WithGateway", "as -qualys_url and the gateway as -qualys_gateway",
		"as the base URL and this one with WithGateway", "as -qualys_url and this one as -qualys_gateway",
		"give the gateway (gateway.…, see Platform) with WithGateway", "give the gateway (gateway.…, or -platform) as -qualys_gateway",
		"use WithGateway", "set -qualys_gateway",
		"use WithCredentials", "set -username and QUALYS_PASSWORD",
		"with WithInsecureLoopback", "in tests: use an https:// URL",
		"WithInsecureLoopback", "an https:// URL",
		"use WithAPIKey(key, password) or WithToken(token)", "set CAR_API_KEY and CAR_PASSWORD, or CAR_TOKEN",
		"use WithPassword or WithClientCredentials", "set -threatq_client_id with -threatq_email and THREATQ_PASSWORD, or THREATQ_CLIENT_SECRET",
		"WithJobDeadline", "-job_deadline",
		"WithWaitDeadline", "-job_deadline",
	)
)

// Explain rewrites a library message in the program's words: the flags
// and variables to set instead of the library's option names.
func Explain(msg string) string {
	msg = endpointOption.ReplaceAllStringFunc(msg, func(m string) string {
		sub := endpointOption.FindStringSubmatch(m)
		for name, e := range versionNames {
			if strings.EqualFold(strings.ReplaceAll(name, "_", ""), sub[1]) || string(e) == sub[1] {
				return "-qualys_versions " + name + "=VERSION"
			}
		}
		return "-qualys_versions"
	})
	return optionWords.Replace(msg)
}
