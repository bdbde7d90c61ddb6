package swarm

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
)

// newLogBridge returns a *log.Logger for memberlist whose lines ("[ERR]
// memberlist: ...") are re-emitted through l at the matching slog level.
// Error lines are counted in Stats.TransportErrors: they are how memberlist
// reports malformed, undecryptable or mislabelled packets. A message
// memberlist drops because its handler queue is full is counted in
// Stats.Drops["memberlist_handoff_full"], and logged at most every 10 s
// (memberlist logs each one: thousands a second on an overloaded node).
// closing reports whether the node is shutting down: see closedSocket.
func newLogBridge(l *slog.Logger, st *counters, closing func() bool) *log.Logger {
	return log.New(&logBridge{l: l, st: st, closing: closing}, "", 0)
}

type logBridge struct {
	l       *slog.Logger
	st      *counters
	closing func() bool
	// handoffLogged is when a handler-queue drop was last logged (unix
	// nanoseconds).
	handoffLogged atomic.Int64
}

const handoffLogEvery = 10 * time.Second

// closedSocket is the text of net.ErrClosed, which a send on a closed
// socket returns.
const closedSocket = "use of closed network connection"

func (b *logBridge) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	level := slog.LevelInfo
	for _, lv := range []struct {
		tag   string
		level slog.Level
	}{
		{"[ERR]", slog.LevelError}, {"[ERROR]", slog.LevelError},
		{"[WARN]", slog.LevelWarn}, {"[INFO]", slog.LevelInfo}, {"[DEBUG]", slog.LevelDebug},
	} {
		if i := strings.Index(line, lv.tag); i >= 0 {
			level = lv.level
			line = strings.TrimSpace(line[i+len(lv.tag):])
			break
		}
	}
	if level == slog.LevelError && b.closing() && strings.Contains(line, closedSocket) {
		// memberlist's Shutdown closes the transport before it stops
		// its probes and gossip, so a probe in that moment fails on the
		// closed socket: this node's own shutdown, not a transport error
		// (the demo logged two at exit, as ERROR).
		level = slog.LevelDebug
	}
	if level == slog.LevelError {
		b.st.transportErrors.Add(1)
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	if strings.HasPrefix(line, "handler queue full") {
		b.st.drop(dropHandoffFull)
		now, last := time.Now().UnixNano(), b.handoffLogged.Load()
		if now-last < int64(handoffLogEvery) || !b.handoffLogged.CompareAndSwap(last, now) {
			return len(p), nil
		}
		line += " (counted in Stats.Drops[\"" + dropHandoffFull + "\"]; logged at most every 10 s)"
	}
	if b.l.Enabled(context.Background(), level) {
		b.l.Log(context.Background(), level, line, "component", "memberlist")
	}
	return len(p), nil
}
