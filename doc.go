// Package qualysbridge moves vulnerability and asset data out of Qualys and
// into the systems security teams act from.
//
// The module is a set of small packages that compose through Go iterators
// and functional options:
//
//   - qualys: typed clients for the Qualys APIs (QPS host assets, VM
//     detections, search lists, knowledge base, gateway assets) over one
//     transport that authenticates, paces itself from the X-RateLimit-*
//     headers, caps concurrency and retries only what is safe to retry.
//   - qualys/qualystest: an in-process fake Qualys for tests and demos.
//   - car and car/cartest: the IBM Connected Assets and Risk writer (a
//     streaming, batched, resumable Import) and its fake.
//   - threatq and threatq/threatqtest: the ThreatQ writer (OAuth, indicators,
//     idempotent Asset upserts) and its fake.
//   - mapping: pure functions from Qualys hosts to CAR graphs and ThreatQ
//     Assets.
//   - carsync: the Qualys to CAR connector's engine (full and incremental).
//   - tqsync: the ThreatQ operation's engine: vulnerable hosts of a CVE
//     (or a sweep of every watched CVE) stored as ThreatQ Assets.
//   - qbrecord and qbrecord/qbrecordtest: record the three services'
//     answers once into a scrubbed cassette and replay them in tests.
//
// The examples of this package show the three flows end to end against the
// fakes: the quick start (stream detections), the CAR flow and the ThreatQ
// flow. The programs in examples/ build on the same public API.
//
// Every network call takes a context.Context; lists are iter.Seq2 values
// that fetch lazily and yield the first error once; errors are typed and
// never carry credentials; the library logs nothing unless given a
// *slog.Logger.
package qualysbridge
