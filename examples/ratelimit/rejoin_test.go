package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// serving runs "ratelimit serve args..." until the test ends and returns
// its public and admin base URLs once it listens.
func serving(t *testing.T, args ...string) (public, admin string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"serve"}, args...), &out, &errOut) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve %v exited %d: %s", args, code, errOut.String())
		}
	})
	re := regexp.MustCompile(`http on (http://\S+) .* admin on (http://\S+)`)
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		m := re.FindStringSubmatch(out.String())
		if m == nil {
			return fmt.Errorf("not listening yet: %q %q", out.String(), errOut.String())
		}
		public, admin = m[1], m[2]
		return nil
	})
	return public, admin
}

func httpGet(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// A server whose -join peer is down serves alone, keeps re-discovering,
// and joins the peer once it is up (it used to exit 1).
func TestServeStaysUpWhilePeersAreDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close() // nobody listens there until peer b starts

	common := []string{"-http", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-limit", "100", "-memberlist.rediscover-interval", "200ms"}
	pubA, adminA := serving(t, append([]string{"-name", "a", "-join", "127.0.0.1:" + strconv.Itoa(port)}, common...)...)
	if code, body, err := httpGet(pubA + "/"); err != nil || code != http.StatusOK {
		t.Fatalf("a alone: %d %q %v", code, body, err)
	}
	if code, body, _ := httpGet(pubA + "/readyz"); code != http.StatusOK || !strings.Contains(body, "1 members") {
		t.Fatalf("a alone is ready with 1 member: %d %q", code, body)
	}

	serving(t, append([]string{"-name", "b", "-port", strconv.Itoa(port)}, common...)...)
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		_, metrics, err := httpGet(adminA + "/metrics")
		if err != nil {
			return err
		}
		if !strings.Contains(metrics, `shoal_members{state="alive"} 2`) {
			return fmt.Errorf("a has not joined b yet")
		}
		return nil
	})
}

// Off loopback without a gossip key the server refuses to start, and says
// which flag (or variable) to set.
func TestServeOffLoopbackNeedsAKey(t *testing.T) {
	var out, errOut lockedBuffer
	code := run(context.Background(), []string{"serve", "-name", "a", "-bind", "10.255.255.1", "-http", "127.0.0.1:0"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "flag -memberlist.secret-keys") {
		t.Fatalf("exit %d, stderr %q: want 1 and the flag named", code, errOut.String())
	}
}
