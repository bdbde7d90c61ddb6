package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress keeps the user informed on stderr while a scenario runs: on a
// terminal it rewrites one line with \r, elsewhere (a log, CI) it prints a
// line every few seconds so the output stays short.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	every    time.Duration
	last     time.Time
	width    int // length of the line on screen, to blank it out
	start    time.Time
}

// newProgress returns a progress writer to w; a nil w discards.
func newProgress(w io.Writer) *progress {
	p := &progress{w: w, every: 5 * time.Second, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.terminal, p.every = true, 100*time.Millisecond
		}
	}
	return p
}

// update shows the current state; it is rate-limited, so call it freely.
func (p *progress) update(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	p.writeLocked(fmt.Sprintf(format, args...))
}

// done prints a final line for a finished step, always.
func (p *progress) done(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writeLocked(fmt.Sprintf(format, args...))
	if p.terminal {
		fmt.Fprintln(p.w)
		p.width = 0
	}
	p.last = time.Time{}
}

func (p *progress) writeLocked(line string) {
	if !p.terminal {
		fmt.Fprintln(p.w, line)
		return
	}
	pad := ""
	if n := p.width - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
	p.width = len(line)
}

// elapsed formats the time since the progress writer was made.
func (p *progress) elapsed() string {
	return time.Since(p.start).Round(time.Second).String()
}
