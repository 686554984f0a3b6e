// Package qualys is a client for the Qualys APIs that hold vulnerability
// and asset data: the FO API (Host List Detection, KnowledgeBase, dynamic
// QID search lists), the QPS Asset Management API (host assets) and the
// gateway CSAM API (assets with installed software).
//
// # Quick start
//
//	apiURL, gatewayURL, _ := qualys.Platform("US1")
//	c, err := qualys.NewClient(apiURL,
//		qualys.WithCredentials(user, pass),
//		qualys.WithGateway(gatewayURL))
//	...
//	for h, err := range c.Detections.List(ctx, &qualys.DetectionQuery{Severities: []int{4, 5}}) {
//		if err != nil { ... }
//		// h is one host with its detections, decoded from the stream.
//	}
//
// # Services
//
//   - Client.HostAssets: QPS host assets (List, Pages, Count, Get), paged
//     by id, JSON or XML answers.
//   - Client.Detections: Host List Detection, streamed one host at a time;
//     the truncation WARNING is followed by its query only, never its host.
//   - Client.Hosts: the Host List, streamed one host at a time as
//     detections are, with the TruRisk score (0-1000), the Asset
//     Criticality Score (1-5) and the Asset Risk Score a host list shows.
//   - Client.KnowledgeBase: KnowledgeBase entries, every chunk of QIDs
//     (Get: entries by QID).
//   - Client.SearchLists: dynamic QID search lists.
//   - Client.Assets: gateway (CSAM) assets with their software, with a JWT
//     renewed before it expires.
//   - Client.VulnerableHosts: the ThreatQ operation's flow: hosts vulnerable
//     to exact CVEs, through a search list that is always deleted.
//   - DecodeDetections, DecodeHosts, DecodeHostAssets, DecodeKnowledgeBase, DecodeAssets:
//     the same decoders for saved files.
//
// # API versions
//
// Qualys versions each FO endpoint on its own and retires old versions
// (about 12 months from a new version to the end of life of the old one).
// The client calls the current versions by default:
//
//	Host List Detection  /api/5.0/fo/asset/host/vm/detection/   (EndpointDetections)
//	KnowledgeBase        /api/4.0/fo/knowledge_base/vuln/       (EndpointKnowledgeBase)
//	Dynamic search lists /api/3.0/fo/qid/search_list/dynamic/   (EndpointSearchLists)
//	Asset groups         /api/2.0/fo/asset/group/               (EndpointAssetGroups)
//	QPS host assets      /qps/rest/2.0/{search,count,get}/am/hostasset
//	Gateway assets       /rest/2.0/search/am/asset, token from /auth
//
// WithEndpointVersion sets another version for one endpoint. A call the
// server refuses because of its version (a 404 or 410, or an error text
// that says so) fails with a *VersionError that names the endpoint, the
// version and the option to change (errors.Is(err, ErrVersionUnsupported)).
// An end-of-service notice in a response (Deprecation or Sunset headers, a
// Warning header, a detection WARNING that announces it) is logged once per
// endpoint at WARN.
//
// # Errors
//
// A failure reported by an API is an *Error (status, the API's code and
// text, the endpoint; never credentials); malformed or cut bodies are a
// *DecodeError naming the last complete record; bad options and arguments
// are a *ConfigError, returned before any call is made. errors.Is matches
// ErrRateLimited, ErrUnauthorized, ErrNotFound and ErrVersionUnsupported.
//
// # Pacing and concurrency
//
// Every call goes through one pipeline: Basic (or gateway Bearer)
// authentication, the X-Requested-With header, pacing from the
// X-RateLimit-* headers, a per-API concurrency cap from
// X-Concurrency-Limit-Limit (for an FO API, 1 until an answer of that API has
// said; 2 for the QPS and gateway APIs, which never say), and bounded
// retries (WithRetry, WithBackoff) that honour the server's wait headers and
// never repeat a call that is not safe to repeat. Calls and RateFor report
// what the subscription's budget was charged and what the server last said.
// Concurrency, RateFor and HoldSlot are public for a caller that fans out
// calls of its own (carsync's pipeline is one): they let it keep as many
// requests outstanding as the subscription allows, learned from the
// server and shared with every other call of the client, and never more.
//
// # Retries
//
// One policy for the qualys, car and threatq clients (written once, in
// the module's internal retry package). A call the server refused before
// doing anything (429; a 409 or 503 that says how long to wait, Qualys' limit codes 1960, 1965 and the like) is
// retried whatever it is. Otherwise only a call that is safe to repeat
// (a read, an idempotent write such as an upsert or a delete; never a
// create nor a PATCH, whose first attempt may have taken effect) is
// retried, on 5xx but 501, a 409 without a code and an HTML maintenance page answered 200 and on a transport error before or without
// an answer (the connection refused, reset or timed out, the server idle
// past WithIdleTimeout); never on a certificate failure or a host name
// that does not resolve. The wait is the server's (Retry-After, X-RateLimit-ToWait-Sec) when it
// gives one, and a wait longer than WithRetry's maxWait ends the retries;
// else the backoff (WithBackoff: jittered and growing). WithRetry's
// maxAttempts bounds the sends of one call.
//
// # The fake
//
// Package qualystest is an in-process fake of these APIs for tests and
// demos, with the same versions, limits, error shapes and pagination.
package qualys
