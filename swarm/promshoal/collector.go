package promshoal

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-go/shoal/swarm"
)

// DefaultNamespace prefixes every metric name when Options.Namespace is
// empty.
const DefaultNamespace = "shoal"

// Options name the metrics.
type Options struct {
	// Namespace prefixes metric names ("shoal_members"); empty means
	// DefaultNamespace.
	Namespace string
	// ConstLabels are added to every metric, for example
	// {"node": n.Name()} when one process runs several nodes.
	ConstLabels prometheus.Labels
}

func (o Options) namespace() string {
	if o.Namespace == "" {
		return DefaultNamespace
	}
	return o.Namespace
}

// memberStates are the label values of the members metric, always all
// exported so that a state dropping to zero shows as 0, not as a gap.
var memberStates = []swarm.MemberState{swarm.MemberAlive, swarm.MemberFailed, swarm.MemberLeft}

// Collector exports a node's counters (swarm.Node.Stats and Members) as
// Prometheus metrics. It reads them at each scrape; nothing is counted
// twice and nothing runs between scrapes. Register it once per node:
//
//	prometheus.MustRegister(promshoal.NewCollector(node, promshoal.Options{}))
//
// The metrics (with the default namespace):
//
//	shoal_members{state}                         gauge: members alive, failed, left (self included)
//	shoal_messages_sent_total{kind}              counter: shoal messages handed to memberlist
//	shoal_message_bytes_sent_total{kind}         counter: their bytes
//	shoal_messages_received_total{kind}          counter: shoal messages decoded
//	shoal_message_bytes_received_total{kind}     counter: their bytes
//	shoal_wire_bytes_sent_total                  counter: every byte the transport wrote
//	shoal_broadcast_queue_messages               gauge: messages waiting in the gossip queue
//	shoal_dropped_total{reason}                  counter: messages and events given up, by reason
//	shoal_decode_errors_total                    counter: messages that failed to decode or validate
//	shoal_rejected_total{reason}                 counter: the same peer input refused, by reason
//	shoal_transport_errors_total                 counter: errors memberlist reported
//	shoal_push_pulls_total                       counter: anti-entropy exchanges
//	shoal_push_pull_bytes_sent_total             counter: state bytes sent in them
//	shoal_push_pull_bytes_received_total         counter: state bytes received in them
//	shoal_state_overflows_total                  counter: states cut at MaxStateBytes
//	shoal_discovery_errors_total                 counter: failed re-discovery rounds
//	shoal_pending_values                         gauge: values held for names not registered here
//	shoal_retirement_records                     gauge: retirement records the node's counters hold
//	shoal_retirement_uncommitted_records         gauge: those not committed yet
//	shoal_retirement_oldest_uncommitted_seconds  gauge: how long the oldest of them has settled (see swarm.RetireStats)
//	shoal_health_score                           gauge: memberlist's health score (0 is healthy; see swarm.Health)
//	shoal_ready                                  gauge: 1 while the node runs
//	shoal_degraded                               gauge: 1 while the health score is above 0
//	shoal_build_info{version,go_version}         gauge: 1, labelled with shoal's module version
//
// dropped_total's reason is one of swarm's reasons (Stats.Drops: for
// example "pending_full", "slow_member_subscriber"), or "other" for drops
// counted without one; rejected_total's likewise (Stats.Rejected). Both
// always export "other", so they exist before the first event.
// kind is "delta" (relayed gossip), "direct" (fast path), "state"
// (anti-entropy), "broadcast" or "classic". See swarm.Stats for what each
// counter covers.
type Collector struct {
	n *swarm.Node

	members                                  *prometheus.Desc
	sentMsgs, sentBytes                      *prometheus.Desc
	recvMsgs, recvBytes                      *prometheus.Desc
	wireSent, queue                          *prometheus.Desc
	dropped, decodeErrs, transErrs           *prometheus.Desc
	pushPulls, ppSent, ppRecv                *prometheus.Desc
	overflows, discoveryErrs, pending, early *prometheus.Desc
	rejected                                 *prometheus.Desc
	records, uncommitted, settling           *prometheus.Desc
	health, ready, degraded                  *prometheus.Desc
	buildInfo                                prometheus.Metric
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector for n.
func NewCollector(n *swarm.Node, o Options) *Collector {
	ns := o.namespace()
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, o.ConstLabels)
	}
	return &Collector{
		n:             n,
		members:       d("members", "Members of the cluster as this node sees them, by state (this node included).", "state"),
		sentMsgs:      d("messages_sent_total", "Shoal messages handed to memberlist, by kind.", "kind"),
		sentBytes:     d("message_bytes_sent_total", "Bytes of the shoal messages handed to memberlist, by kind.", "kind"),
		recvMsgs:      d("messages_received_total", "Shoal messages received and decoded, by kind.", "kind"),
		recvBytes:     d("message_bytes_received_total", "Bytes of the shoal messages received, by kind.", "kind"),
		wireSent:      d("wire_bytes_sent_total", "Bytes the node's transport wrote: shoal messages, memberlist probes, headers, encryption."),
		queue:         d("broadcast_queue_messages", "Messages waiting in memberlist's gossip queue."),
		dropped:       d("dropped_total", "Messages and events given up to stay within a bound (pending store evictions, slow subscribers, oversized forwards), by reason.", "reason"),
		rejected:      d("rejected_total", "Input from peers refused by validation, by reason.", "reason"),
		health:        d("health_score", "memberlist's health (awareness) score: 0 is healthy; probe timeouts stretch by score+1."),
		ready:         d("ready", "1 while the node runs (created, not left or closed)."),
		degraded:      d("degraded", "1 while the node's health score is above 0."),
		buildInfo:     buildInfo(ns, o.ConstLabels),
		decodeErrs:    d("decode_errors_total", "Received messages that failed to decode or validate, type mismatches included."),
		transErrs:     d("transport_errors_total", "Errors memberlist reported: malformed or undecryptable packets, failed streams, wrong labels."),
		pushPulls:     d("push_pulls_total", "Anti-entropy (push/pull) exchanges."),
		ppSent:        d("push_pull_bytes_sent_total", "State bytes sent in anti-entropy exchanges."),
		ppRecv:        d("push_pull_bytes_received_total", "State bytes received in anti-entropy exchanges."),
		overflows:     d("state_overflows_total", "Anti-entropy states cut at MaxStateBytes."),
		discoveryErrs: d("discovery_errors_total", "Failed re-discovery rounds."),
		pending:       d("pending_values", "Values received for names not registered on this node."),
		early:         d("early_deltas", "Deltas held until their origin's announcement reaches this node."),
		records:       d("retirement_records", "Retirement records held by the node's counters at its last retirement pass."),
		uncommitted:   d("retirement_uncommitted_records", "Retirement records not committed yet at the last pass."),
		settling:      d("retirement_oldest_uncommitted_seconds", "How long the oldest uncommitted retirement record had settled at the last pass; far above RetireHorizon plus RetireAfter, records are re-homed faster than they commit."),
	}
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.members, c.sentMsgs, c.sentBytes, c.recvMsgs, c.recvBytes, c.wireSent, c.queue,
		c.dropped, c.decodeErrs, c.transErrs, c.pushPulls, c.ppSent, c.ppRecv,
		c.overflows, c.discoveryErrs, c.pending, c.early, c.rejected, c.health, c.ready, c.degraded,
		c.records, c.uncommitted, c.settling,
		c.buildInfo.Desc(),
	} {
		ch <- d
	}
}

// Collect reads the node's counters and sends them.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	byState := make(map[swarm.MemberState]int, len(memberStates))
	for _, m := range c.n.Members() {
		byState[m.State]++
	}
	for _, s := range memberStates {
		ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(byState[s]), s.String())
	}
	st := c.n.Stats()
	for kind, t := range st.Sent {
		ch <- prometheus.MustNewConstMetric(c.sentMsgs, prometheus.CounterValue, float64(t.Messages), kind)
		ch <- prometheus.MustNewConstMetric(c.sentBytes, prometheus.CounterValue, float64(t.Bytes), kind)
	}
	for kind, t := range st.Received {
		ch <- prometheus.MustNewConstMetric(c.recvMsgs, prometheus.CounterValue, float64(t.Messages), kind)
		ch <- prometheus.MustNewConstMetric(c.recvBytes, prometheus.CounterValue, float64(t.Bytes), kind)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter(c.wireSent, st.WireBytesSent)
	gauge(c.queue, st.BroadcastQueue)
	byReason(ch, c.dropped, st.Dropped, st.Drops)
	byReason(ch, c.rejected, st.DecodeErrors, st.Rejected)
	counter(c.decodeErrs, st.DecodeErrors)
	counter(c.transErrs, st.TransportErrors)
	counter(c.pushPulls, st.PushPulls)
	counter(c.ppSent, st.PushPullBytesSent)
	counter(c.ppRecv, st.PushPullBytesReceived)
	counter(c.overflows, st.StateOverflows)
	counter(c.discoveryErrs, st.DiscoveryErrors)
	gauge(c.pending, st.PendingValues)
	gauge(c.early, st.EarlyDeltas)
	gauge(c.records, int(st.Retirement.Records))
	gauge(c.uncommitted, int(st.Retirement.Uncommitted))
	ch <- prometheus.MustNewConstMetric(c.settling, prometheus.GaugeValue, st.Retirement.OldestUncommitted.Seconds())
	h := c.n.Health()
	gauge(c.health, h.Score)
	gauge(c.ready, boolInt(h.Ready))
	gauge(c.degraded, boolInt(h.Degraded))
	ch <- c.buildInfo
}

// byReason sends one counter per reason, and the part of total that no
// reason covers as "other" (always, so the metric exists from the start).
func byReason(ch chan<- prometheus.Metric, d *prometheus.Desc, total uint64, reasons map[string]uint64) {
	var sum uint64
	for r, v := range reasons {
		sum += v
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), r)
	}
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(total-min(sum, total)), "other")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
