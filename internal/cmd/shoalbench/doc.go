// Command shoalbench measures shoal clusters running in this process:
// how fast an update reaches every node (next to memberlist's own relayed
// broadcast with the same timings), what the nodes write to the network
// against the update rate, membership and convergence of hundreds of
// simulated nodes, and how accurately a cluster rate limit admits. Its
// report scenario runs the standard set and writes docs/BENCHMARKS.md.
//
// # Usage
//
//	go run ./internal/cmd/shoalbench SCENARIO [flags]
//
// Every scenario prints a table on stdout when it is done, or with -json
// one JSON object per result as it comes, and keeps a progress line on
// stderr (rewritten in place on a terminal, a line every few seconds
// otherwise). Run a scenario with -h for its flags.
//
// # Scenarios
//
//	convergence -nodes N -updates K [-preset lan|local|fast] [-transport loopback|sim]
//	            [-drop P] [-delay D] [-jitter D] [-timeout D] [-reftimeout D] [-noref] [-svg FILE]
//	            [-idle D] [-settle] [-sizes N,N,...] [-nsvg FILE]
//	            [-probe-interval D] [-probe-timeout D] [-suspicion-mult M]
//
// Node k mod N adds 1 to a shared counter, one update at a time; the
// latency of an update is the time from the Add until the last node reads
// the origin's new count (every node watches through Shared.Subscribe).
// Then the same is measured for plain memberlist nodes with the same
// timings relaying an opaque broadcast (the reference). Presets: lan is
// DefaultLANConfig's timings with the fast path off (gossip only), fast
// the same with the fast path on, local DefaultLocalConfig. -transport
// sim runs on swarmtest's fault-injecting network, with -drop, -delay and
// -jitter switched on once the cluster has formed. -svg draws the latency
// CDF. bytes/update/node is everything the nodes wrote during the updates
// over updates × nodes; -idle first measures what the formed cluster
// writes with no update for that long, and the marginal column subtracts
// it. -settle first waits until the process is quiet and memberlist's
// join gossip is done (at hundreds of nodes it otherwise takes the cores
// the updates are timed on). With -json, per_update gives each update's
// latency and the process's own stalls meanwhile (see scale). -sizes runs
// several cluster sizes in turn; -nsvg plots p99 against them.
//
//	traffic -nodes N -rate R -keys K -duration D [-writers one|all] [-preset P]
//
// One node (or every node in turn) makes R updates per second over K
// counters; reports bytes and shoal messages per node per second.
//
//	scale -nodes N [-updates K] [-preset scale] [-transport sim] [-drop P]
//	      [-probe-interval D] [-probe-timeout D] [-suspicion-mult M]
//
// Starts N nodes on the simulated network, times joins and full
// membership, then K updates to every node. With -json, per_update gives
// each update's latency next to what the Go runtime saw of this process
// meanwhile (garbage collections ended, the longest wait of a runnable
// goroutine for a core, the bytes allocated): every node runs in this
// one process, and its stalls delay them all at once. Membership under heavy loss
// (a measurement of memberlist's own failure detection, once a test with
// a wall-clock deadline) is
// scale -nodes 50 -preset lossy -drop 0.3 -jitter 20ms -updates 1.
// -probe-interval, -probe-timeout and -suspicion-mult (here and in
// convergence, for both clusters) override the preset's failure
// detection: 1,000 nodes in one process on two cores need slower probes
// than the scale preset's, or late acks start a storm of suspicions that
// keeps the process saturated (docs/BENCHMARKS.md).
//
//	burst -nodes N -values V [-rounds R] [-preset local|fast|lan] [-transport loopback|sim]
//
// Registers V counters on every node; then R times node-0 adds 1 to all
// of them at once (one flush), and the latency of the round is the time
// from the first Add until every other node reads every counter's new
// count.
//
//	leave -nodes N -values V [-leavetimeout D]
//
// Times Leave on a node of an N-node loopback cluster holding V values
// changed and not yet flushed, and counts what its last flush left.
//
//	ratelimit [-backend shoal|redis|redis-lua|both|all] -nodes N -limit L -window W -duration D
//	          [-offered X] [-skew S] [-churn] [-keyed] [-keys N] [-key-limit L]
//	          [-key-window W] [-key-rate R] [-key-dist zipf|even] [-zipf-s S]
//	          [-svg FILE]
//
// Runs internal/bench/ratelimitbench; -svg plots the admitted events per
// sliding window over time against the limit.
//
//	soak [-nodes 10] [-duration 30m] [-warmup D] [-restart 1m] [-burst 30s] [-burst-values 5000]
//	     [-rate 50] [-sample 5s] [-preset local] [-retire-after D] [-retire-horizon D]
//	     [-bounds heap=5,goroutines=5,queue=5,slots=5]
//
// Runs N nodes with continuous counter, map and keyed-limiter traffic
// (-rate operations of each kind per node per second), a rolling restart
// of every node each -restart, and a burst of -burst-values changed
// counters from one node each -burst. Every -sample, while every node is
// up, it records the process's live heap and goroutines, the mean
// anti-entropy state per exchange, the summed gossip queue depth and the
// most counter slots a node up for the catch-up time holds; after -warmup
// it fits a line to each and reports the slope as a change in % of the
// mean over the run (over whole -restart periods when there are two; for
// slots_peak, over each period's most slots). The run
// fails (exit 2) when a metric in -bounds changes by more than its bound
// (0 or absent: reported only). CI runs -duration 2m. A restarted
// replica's slots stay for about RetireHorizon (24 h by default), so a
// run shorter than that passes a short -retire-horizon to see them level.
//
// Every scenario runs all its nodes in this process, whose garbage
// collector would otherwise collect several times as often per byte as
// the fleet it stands for: each node of a fleet is a process, and Go never
// sets a process's heap goal below 4 MiB. Unless GOGC is set in the
// environment, shoalbench sets GOGC so that its heap goal is the sum of
// the nodes' goals, max(2 × live heap, nodes × 4 MiB), up to GOGC 500,
// and per_update reports it (gogc); GOGC=100 measures the one process as
// it is. Each collection still marks every node's heap at once
// (fleetgc.go).
//
// Three environment variables help find where its time and memory go:
// SHOALBENCH_CPUPROFILE=FILE writes a CPU profile of the whole run,
// SHOALBENCH_PPROF=ADDR serves net/http/pprof on ADDR (127.0.0.1:6060),
// and SHOALBENCH_SLOWTRACE=FILE keeps the runtime's flight recorder on
// through burst's, scale's and convergence's measured updates and writes
// to FILE the execution trace of the slowest one (the recorder's window,
// which ends after the update), to read with go tool trace.
//
//	report [-quick] [-out DIR]
//
// Runs the standard set (about 20 minutes on 2 cores; -quick: seconds)
// and writes DIR/BENCHMARKS.md (default docs) with the tables, a goals
// table computed from the numbers, the machine, the date and the command,
// and the plots in DIR/img.
package main
