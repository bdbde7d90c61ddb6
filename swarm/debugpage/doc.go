// Package debugpage serves a node's debug page over HTTP, in the spirit of
// expvar and net/http/pprof: who the members are and in which state, every
// shared value with what each replica contributes to it and how old that
// contribution is, and the node's traffic counters.
//
// # Usage
//
// Mount the handler on an internal listener (it shows the cluster's values
// to whoever asks):
//
//	mux := http.NewServeMux()
//	mux.Handle("/debug/shoal", debugpage.Handler(node))
//	go http.ListenAndServe("127.0.0.1:6060", mux)
//
// The page is HTML for people; ?format=json returns the same Report for
// machines, and ?refresh=N makes the HTML page reload itself every N
// seconds. Collect builds the Report without HTTP.
//
// # What it shows
//
// Members come from swarm.Node.Members, values from swarm.Node.Values and
// traffic from swarm.Node.Stats. Per value, a counter lists each replica's
// slot, a window counter each replica's count in the window and the start
// of its newest bucket, a map each key with the replica that wrote it and
// when, a classic key each node's last value. Types that keep no time
// (counters, sets) show no age.
//
// Building the page locks each value briefly, one at a time, and formats
// at most 200 entries per value: for a node with 10 counters and a map of
// 100 keys the HTML page costs about 0.44 ms and 4,200 allocations, the
// JSON about 0.21 ms (BenchmarkHandlerHTML, BenchmarkHandlerJSON; median
// of 5 on a 2-core machine). Cheap enough to reload every second, not
// meant for a hot path.
package debugpage
