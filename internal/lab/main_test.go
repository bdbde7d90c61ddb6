package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The labnode binary is built once per test run, into binDir.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// labnodeBinary builds internal/cmd/labnode once per run, with the race
// detector when this test binary has it, and returns its path.
func labnodeBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			binErr = fmt.Errorf("go tool not found to build labnode: %w", err)
			return
		}
		if binDir, err = os.MkdirTemp("", "shoal-labnode-"); err != nil {
			binErr = err
			return
		}
		bin := filepath.Join(binDir, "labnode")
		args := []string{"build", "-o", bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/shoal-go/shoal/internal/cmd/labnode")
		start := time.Now()
		if out, err := exec.Command(goTool, args...).CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
			return
		}
		binPath = bin
		t.Logf("built labnode (race detector %v) in %v", raceEnabled, time.Since(start).Round(time.Millisecond))
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}
