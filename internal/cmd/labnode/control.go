package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/shoal-go/shoal/swarm"
)

// control answers the line protocol on one node: one command per input
// line, exactly one response line per command.
type control struct {
	node    *swarm.Node
	counter *swarm.Counter
}

// serve reads commands from in until "quit" or the end of in, writing one
// response line per command to out. It returns an error only when out
// cannot be written or in fails; a bad command is answered "error ...".
func (c *control) serve(in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		resp, quit := c.handle(sc.Text())
		if _, err := fmt.Fprintln(out, resp); err != nil {
			return fmt.Errorf("write response: %w", err)
		}
		if quit {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read commands: %w", err)
	}
	return nil
}

// handle executes one command line and returns the response line and
// whether the node has left.
func (c *control) handle(line string) (resp string, quit bool) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return "error empty command", false
	}
	arity := map[string]int{"add": 2, "value": 1, "members": 1, "replica": 1, "stats": 1, "quit": 1}
	want, ok := arity[f[0]]
	if !ok {
		return fmt.Sprintf("error unknown command %q", f[0]), false
	}
	if len(f) != want {
		return fmt.Sprintf("error %s takes %d argument(s)", f[0], want-1), false
	}
	switch f[0] {
	case "add":
		d, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return fmt.Sprintf("error add: %v", err), false
		}
		if err := c.counter.Add(d); err != nil {
			return fmt.Sprintf("error add: %v", err), false
		}
		return "ok", false
	case "value":
		v, err := c.counter.Value()
		if err != nil {
			return fmt.Sprintf("error value: %v", err), false
		}
		return fmt.Sprintf("value %d", v), false
	case "members":
		var alive []string
		for _, m := range c.node.Members() {
			if m.State == swarm.MemberAlive {
				alive = append(alive, m.Name)
			}
		}
		return fmt.Sprintf("members %d %s", len(alive), strings.Join(alive, ",")), false
	case "replica":
		r := c.node.Replica()
		return fmt.Sprintf("replica %s %d", r.Node, r.Incarnation), false
	case "stats":
		b, err := json.Marshal(c.node.Stats())
		if err != nil {
			return fmt.Sprintf("error stats: %v", err), false
		}
		return "stats " + string(b), false
	default: // "quit"
		if err := c.node.Leave(); err != nil {
			return fmt.Sprintf("error quit: %v", err), true
		}
		return "bye", true
	}
}
