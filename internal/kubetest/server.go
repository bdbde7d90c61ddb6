package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Versions of the binaries that build.sh builds; the cache directory is
// keyed by them.
const (
	KubeVersion = "v1.37.2"
	EtcdVersion = "v3.7.3"
)

// Environment variables that Start reads.
const (
	// BinDirEnv names a directory holding kube-apiserver and etcd.
	BinDirEnv = "SHOAL_KUBE_BIN_DIR"
	// RequireEnv set to 1 turns a missing binary into a test failure.
	RequireEnv = "SHOAL_REQUIRE_KUBE"
)

// readyTimeout bounds the wait for etcd and then the API server; on a loaded
// 2-core machine the API server's bootstrap hooks take ~10 s.
const readyTimeout = 120 * time.Second

// Server is a running kube-apiserver with its etcd. Its fields are read-only.
type Server struct {
	// URL is the API server's base URL, "https://127.0.0.1:PORT".
	URL string
	// Host and Port are the parts of URL, as KUBERNETES_SERVICE_HOST and
	// KUBERNETES_SERVICE_PORT would carry them in a pod.
	Host, Port string
	// CAFile is the PEM file of the CA that signed the serving
	// certificate; CAPEM is its content.
	CAFile string
	CAPEM  []byte
	// AdminToken authenticates as a member of system:masters.
	AdminToken string
	// Client trusts CAFile and sends no credentials of its own.
	Client *http.Client
}

// BinDir returns the directory where Start looks for the binaries.
func BinDir() string {
	if d := os.Getenv(BinDirEnv); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "shoal", "kube-"+KubeVersion+"-etcd-"+EtcdVersion)
}

// Start runs etcd and kube-apiserver on free loopback ports, with their
// data, keys and logs in a temporary directory, and waits until the API
// server is ready. t.Cleanup stops both and removes everything. When the
// binaries are missing, Start skips the test, or fails it if
// SHOAL_REQUIRE_KUBE=1.
func Start(t testing.TB) *Server {
	t.Helper()
	dir := BinDir()
	etcdBin, apiBin := filepath.Join(dir, "etcd"), filepath.Join(dir, "kube-apiserver")
	for _, bin := range []string{etcdBin, apiBin} {
		if _, err := os.Stat(bin); err != nil {
			msg := fmt.Sprintf("kubetest: %s is missing (%v); build it with `bash internal/kubeapiserver/build.sh` (about 7 minutes the first time) or point %s at a directory holding kube-apiserver and etcd", bin, err, BinDirEnv)
			if os.Getenv(RequireEnv) == "1" {
				t.Fatal(msg + "; " + RequireEnv + "=1 requires it")
			}
			t.Skip(msg)
		}
	}

	work := t.TempDir()
	p, err := writePKI(work)
	if err != nil {
		t.Fatalf("kubetest: generating keys: %v", err)
	}
	s := &Server{CAFile: p.caFile, AdminToken: randomToken()}
	if s.CAPEM, err = os.ReadFile(p.caFile); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM)
	s.Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
	t.Cleanup(s.Client.CloseIdleConnections)
	tokens := filepath.Join(work, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(s.AdminToken+`,admin,admin-uid,"system:masters"`+"\n"), 0o600); err != nil {
		t.Fatalf("kubetest: %v", err)
	}

	ports := freePorts(t, 3)
	etcdURL := "http://127.0.0.1:" + ports[0]
	peerURL := "http://127.0.0.1:" + ports[1]
	etcd := startProcess(t, work, etcdBin,
		"--name=kubetest",
		"--data-dir="+filepath.Join(work, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL,
		"--log-level=warn",
		"--unsafe-no-fsync", // a test's data need not survive a crash
	)
	deadline := time.Now().Add(readyTimeout)
	etcd.waitReady(t, deadline, func() error {
		return httpOK(http.DefaultClient, etcdURL+"/health", "")
	})

	s.Host, s.Port = "127.0.0.1", ports[2]
	s.URL = "https://" + net.JoinHostPort(s.Host, s.Port)
	api := startProcess(t, work, apiBin,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+s.Port,
		"--endpoint-reconciler-type=none", // nothing may route to 127.0.0.1 from a Service
		"--tls-cert-file="+p.certFile,
		"--tls-private-key-file="+p.keyFile,
		"--cert-dir="+filepath.Join(work, "certs"),
		"--token-auth-file="+tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p.saKeyFile,
		"--service-account-signing-key-file="+p.saKeyFile,
		"--service-cluster-ip-range=10.96.0.0/24",
		"--enable-priority-and-fairness=false",
		"--v=0",
	)
	api.waitReady(t, deadline, func() error {
		return httpOK(s.Client, s.URL+"/readyz", s.AdminToken)
	})
	return s
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails on Linux (crypto/rand docs)
	return hex.EncodeToString(b)
}

// freePorts returns n distinct loopback ports that were free a moment ago.
// Another process may take one before the server binds it; the server then
// exits and waitReady reports its log.
func freePorts(t testing.TB, n int) []string {
	t.Helper()
	var (
		ports     []string
		listeners []net.Listener
	)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("kubetest: finding a free port: %v", err)
		}
		listeners = append(listeners, ln)
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	for _, ln := range listeners {
		ln.Close()
	}
	return ports
}

func httpOK(c *http.Client, url, token string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// process is a child started by Start, owned by the test's cleanup.
type process struct {
	name    string
	cmd     *exec.Cmd
	log     string
	done    chan struct{} // closed when cmd.Wait returned
	waitErr error
}

func startProcess(t testing.TB, work, bin string, args ...string) *process {
	t.Helper()
	name := filepath.Base(bin)
	logPath := filepath.Join(work, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = work
	// Its own process group, so a ^C to `go test` reaches our cleanup
	// rather than killing the child behind our back.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("kubetest: starting %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

// stop ends the process: SIGTERM, then SIGKILL if it lingers.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitReady polls ready until it succeeds, the process exits, or the
// deadline passes; the latter two fail the test with the log's tail.
func (p *process) waitReady(t testing.TB, deadline time.Time, ready func() error) {
	t.Helper()
	var last error
	for {
		if last = ready(); last == nil {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("kubetest: %s exited before it was ready (%v); log:\n%s", p.name, p.waitErr, tail(p.log))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubetest: %s not ready within %s (last: %v); log:\n%s", p.name, readyTimeout, last, tail(p.log))
		}
	}
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const max = 8 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// Do sends one request to the API server with token ("" for none) and
// returns the status code and body. A []byte body is sent as it is, any
// other non-nil body as JSON; contentType "" means application/json.
func (s *Server) Do(ctx context.Context, method, path, contentType string, body any, token string) (int, []byte, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// admin sends a request as the admin and fails the test unless the answer
// is 2xx; a non-nil out receives the decoded body.
func (s *Server) admin(t testing.TB, method, path, contentType string, body, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, b, err := s.Do(ctx, method, path, contentType, body, s.AdminToken)
	if err == nil && (code < 200 || code > 299) {
		err = errors.New(http.StatusText(code) + ": " + string(bytes.TrimSpace(b)))
	}
	if err == nil && out != nil {
		err = json.Unmarshal(b, out)
	}
	if err != nil {
		t.Fatalf("kubetest: %s %s: %v", method, path, err)
	}
}
