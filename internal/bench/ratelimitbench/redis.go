package ratelimitbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// redisServer is a redis-server this benchmark started on a free port,
// without persistence.
type redisServer struct {
	cmd  *exec.Cmd
	addr string
}

func startRedis(ctx context.Context, bin string) (*redisServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ratelimitbench: pick a port for redis: %w", err)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	_ = ln.Close()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ratelimitbench: start redis-server: %w", err)
	}
	s := &redisServer{cmd: cmd, addr: addr}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dialRESP(addr)
		if err == nil {
			reply, err := c.do("PING")
			_ = c.close()
			if err == nil && reply == "PONG" {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("ratelimitbench: redis-server did not answer PING on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *redisServer) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// respConn is a minimal RESP2 client: commands as arrays of bulk strings,
// replies parsed into Go values (string, int64, nil, []any, error).
type respConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func dialRESP(addr string) (*respConn, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	return &respConn{c: c, r: bufio.NewReader(c), w: bufio.NewWriter(c)}, nil
}

func (c *respConn) close() error { return c.c.Close() }

func (c *respConn) write(args ...string) {
	c.w.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		c.w.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
}

// do sends one command and reads its reply.
func (c *respConn) do(args ...string) (any, error) {
	c.write(args...)
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	return c.read()
}

// pipeline sends several commands in one write and reads all replies.
func (c *respConn) pipeline(cmds ...[]string) ([]any, error) {
	for _, a := range cmds {
		c.write(a...)
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	out := make([]any, len(cmds))
	for i := range cmds {
		v, err := c.read()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (c *respConn) read() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 {
		return nil, errors.New("resp: short line")
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, fmt.Errorf("resp: %s", body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = c.read(); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, fmt.Errorf("resp: unexpected reply %q", line)
}

// newRedisInstance is one limiter instance against the shared redis: the
// sliding-window log of skipper's cluster rate limit over Redis, two round
// trips per admitted request (ZREMRANGEBYSCORE+ZCARD, then ZADD+PEXPIRE).
// Each instance has its own connection, used by one goroutine.
func newRedisInstance(addr, name string, p Params) (*instance, error) {
	c, err := dialRESP(addr)
	if err != nil {
		return nil, fmt.Errorf("ratelimitbench: connect to redis: %w", err)
	}
	var mu sync.Mutex
	seq := 0
	W := p.Window
	windowMs := strconv.FormatInt(max(1, W.Milliseconds()), 10)
	limit := int64(p.Limit)
	allow := func(now time.Time, key int) bool {
		mu.Lock()
		defer mu.Unlock()
		k := "rl:" + strconv.Itoa(key)
		us := now.UnixMicro()
		replies, err := c.pipeline(
			[]string{"ZREMRANGEBYSCORE", k, "-inf", strconv.FormatInt(us-W.Microseconds(), 10)},
			[]string{"ZCARD", k},
		)
		if err != nil {
			return true // fails open, as the Redis limiters do
		}
		card, _ := replies[1].(int64)
		if card >= limit {
			return false
		}
		seq++
		_, _ = c.pipeline(
			[]string{"ZADD", k, strconv.FormatInt(us, 10), name + "-" + strconv.Itoa(seq)},
			[]string{"PEXPIRE", k, windowMs},
		)
		return true
	}
	return &instance{name: name, allow: allow, close: func() { _ = c.close() }}, nil
}

// slidingLogScript is the sliding-window log as one Lua script: count the
// entries of the window [now−window, ∞) and add this request if the count
// is under the limit, atomically in one round trip.
//
// The clients stamp a request before its round trip, so scripts run out of
// the order of their stamps when a client is delayed. The count therefore
// includes entries stamped after now, and only entries older than two
// windows are dropped: dropping those older than now−window, as a plain
// sliding log does, let a later-stamped script remove entries an
// earlier-stamped one still needed, and admit one more than the limit in a
// window (ratio 1.005 at L = 200, once in a suite run beside two busy
// loops). Counted this way, the last of any window's admissions to run
// saw every other one, so no window admits more than the limit, unless a
// client's stamp lags another's by more than a window.
//
// Stamps are in microseconds, truncated from the loader's nanoseconds, so
// the window's bound is inclusive: an entry the evaluation's window (t−W,
// t] holds is never left out (one just past it may be counted, which only
// denies). The client computes the bounds.
//
//	KEYS[1] the key; ARGV: now (µs), now−window, now−2·window, the limit,
//	a unique member, and the key's time to live (ms)
const slidingLogScript = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZCOUNT', KEYS[1], ARGV[2], '+inf') >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
`

// newRedisLuaInstance is one limiter instance running slidingLogScript
// with EVALSHA: one round trip per request, as a Redis user who cares
// about latency would (go-redis/redis_rate runs GCRA the same way).
func newRedisLuaInstance(addr, name string, p Params) (*instance, error) {
	c, err := dialRESP(addr)
	if err != nil {
		return nil, fmt.Errorf("ratelimitbench: connect to redis: %w", err)
	}
	reply, err := c.do("SCRIPT", "LOAD", slidingLogScript)
	sha, ok := reply.(string)
	if err != nil || !ok {
		_ = c.close()
		return nil, fmt.Errorf("ratelimitbench: load the sliding-log script: %v %w", reply, err)
	}
	var mu sync.Mutex
	seq := 0
	windowUs := p.Window.Microseconds()
	ttlMs := strconv.FormatInt(2*p.Window.Milliseconds()+1, 10)
	limit := strconv.Itoa(p.Limit)
	allow := func(now time.Time, key int) bool {
		mu.Lock()
		defer mu.Unlock()
		seq++
		us := now.UnixMicro()
		r, err := c.do("EVALSHA", sha, "1", "rl:"+strconv.Itoa(key),
			strconv.FormatInt(us, 10), strconv.FormatInt(us-windowUs, 10), strconv.FormatInt(us-2*windowUs, 10),
			limit, name+"-"+strconv.Itoa(seq), ttlMs)
		if err != nil {
			return true // fails open, as the Redis limiters do
		}
		n, _ := r.(int64)
		return n == 1
	}
	return &instance{name: name, allow: allow, close: func() { _ = c.close() }}, nil
}
