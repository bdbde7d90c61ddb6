package debugpage_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm/debugpage"
)

// chromium finds a headless-capable Chromium, or skips the test (fails
// it when SHOAL_REQUIRE_CHROMIUM=1, as CI sets after installing one).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SHOAL_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("chromium not found and SHOAL_REQUIRE_CHROMIUM=1 (apt-get install -y chromium)")
	}
	t.Skip("chromium not found; apt-get install -y chromium to run the browser test")
	return ""
}

// runChromium runs a headless Chromium with the flags that work as root in
// a container, plus extra, and returns its stdout.
func runChromium(t *testing.T, bin string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(),
	}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\nstderr:\n%s", extra, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestPageInChromium renders the page of a 3-node swarm in a real browser:
// the DOM it builds holds every member and the shared values, and the
// screenshot is a real picture. Set SHOAL_SCREENSHOT_DIR to keep it.
func TestPageInChromium(t *testing.T) {
	bin := chromium(t)
	c := startCluster(t, 3)
	srv := httptest.NewServer(debugpage.Handler(c.Node(0)))
	defer srv.Close()

	dom := string(runChromium(t, bin, "--dump-dom", srv.URL+"/"))
	for _, want := range []string{"node-0", "node-1", "node-2", "requests", "owners", "Members (3 alive of 3)", `<span class="value">60</span>`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the DOM Chromium built lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}

	dir := os.Getenv("SHOAL_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	shot := filepath.Join(dir, "debugpage.png")
	runChromium(t, bin, "--screenshot="+shot, "--window-size=1200,900", "--hide-scrollbars", srv.URL+"/")
	png, err := os.ReadFile(shot)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")), "not a PNG")
	// A blank 1200×900 page compresses to a few KiB; text and tables make
	// it several times larger.
	require.Greater(t, len(png), 20_000, "screenshot is suspiciously small (blank page?)")
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}
