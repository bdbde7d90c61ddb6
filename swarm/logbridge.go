package swarm

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
)

// newLogBridge returns a *log.Logger for memberlist whose lines ("[ERR]
// memberlist: ...") are re-emitted through l at the matching slog level.
// Error lines are counted in Stats.TransportErrors: they are how memberlist
// reports malformed, undecryptable or mislabelled packets.
func newLogBridge(l *slog.Logger, st *counters) *log.Logger {
	return log.New(&logBridge{l: l, st: st}, "", 0)
}

type logBridge struct {
	l  *slog.Logger
	st *counters
}

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
	if level == slog.LevelError {
		b.st.transportErrors.Add(1)
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	if b.l.Enabled(context.Background(), level) {
		b.l.Log(context.Background(), level, line, "component", "memberlist")
	}
	return len(p), nil
}
