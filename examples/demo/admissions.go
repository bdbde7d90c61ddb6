package main

import (
	"sync"
	"time"
)

// admissionLog keeps what the rate limiters admitted and were offered,
// cluster-wide, so that the demo can show the true number admitted in the
// last window next to the limit: what no single node knows exactly.
type admissionLog struct {
	window time.Duration

	mu       sync.Mutex
	events   []admission // within the last window, oldest first
	offered  int64       // since the start
	admitted int64
}

type admission struct {
	at                time.Time
	offered, admitted int64
}

func newAdmissionLog(window time.Duration) *admissionLog {
	return &admissionLog{window: window}
}

func (l *admissionLog) record(at time.Time, offered, admitted int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, admission{at, offered, admitted})
	l.offered += offered
	l.admitted += admitted
}

// inWindow returns what was offered and admitted in the window ending at
// now, and the totals since the start.
func (l *admissionLog) inWindow(now time.Time) (offered, admitted, totalOffered, totalAdmitted int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	from := now.Add(-l.window)
	drop := 0
	for drop < len(l.events) && !l.events[drop].at.After(from) {
		drop++
	}
	l.events = l.events[drop:]
	for _, e := range l.events {
		if e.at.After(now) {
			break
		}
		offered += e.offered
		admitted += e.admitted
	}
	return offered, admitted, l.offered, l.admitted
}
