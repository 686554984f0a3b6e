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
//
// Every network call takes a context.Context; lists are iter.Seq2 values
// that fetch lazily and yield the first error once; errors are typed and
// never carry credentials; the library logs nothing unless given a
// *slog.Logger.
package qualysbridge
