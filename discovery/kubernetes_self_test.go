package discovery

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func ifaceAddrs(cidrs ...string) func() ([]net.Addr, error) {
	return func() ([]net.Addr, error) {
		var out []net.Addr
		for _, c := range cidrs {
			ip, n, err := net.ParseCIDR(c)
			if err != nil {
				return nil, err
			}
			n.IP = ip
			out = append(out, n)
		}
		return out, nil
	}
}

func selfPods() []map[string]any {
	return []map[string]any{
		running("web-0", "10.0.0.1"),
		podJSON(podSpec{name: "web-1", phase: "Running", ip: "10.0.0.2"}), // starting: not Ready yet
		podJSON(podSpec{name: "web-2", phase: "Pending"}),                 // no IP yet
	}
}

func TestKubernetesSelfFromDownwardAPIAsksNothing(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	k := newTestKubernetes(t, srv, KubernetesConfig{LookupEnv: env("POD_NAME", "web-9", "POD_IP", "::ffff:10.0.0.9")})
	self, err := k.Self(t.Context())
	require.NoError(t, err)
	assert.Equal(t, peer("web-9", "10.0.0.9:9990"), self)
	assert.Empty(t, f.requests())
}

func TestKubernetesSelfLookups(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		env    func(string) (string, bool)
		ifaces func() ([]net.Addr, error)
		want   Peer
		errMsg string
	}{
		{name: "by name, not Ready yet", env: env("POD_NAME", "web-1"), want: peer("web-1", "10.0.0.2:9990")},
		{name: "by IP", env: env("POD_IP", "10.0.0.1"), want: peer("web-0", "10.0.0.1:9990")},
		{name: "by interface", env: env(), ifaces: ifaceAddrs("127.0.0.1/8", "10.0.0.2/24"), want: peer("web-1", "10.0.0.2:9990")},
		{name: "name unknown", env: env("POD_NAME", "web-7"), errMsg: `no pod named POD_NAME="web-7"`},
		{name: "name without IP", env: env("POD_NAME", "web-2"), errMsg: "has no IP yet"},
		{name: "IP unknown", env: env("POD_IP", "10.9.9.9"), errMsg: "POD_IP=10.9.9.9"},
		{name: "bad IP", env: env("POD_IP", "nope"), errMsg: "not an IP address"},
		{name: "no interface matches", env: env(), ifaces: ifaceAddrs("192.0.2.1/24"), errMsg: "set POD_NAME and POD_IP"},
		{name: "interfaces fail", env: env(), ifaces: func() ([]net.Addr, error) { return nil, errors.New("netlink") }, errMsg: "netlink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, srv := newFakeAPI(t)
			f.pods = selfPods()
			k := newTestKubernetes(t, srv, KubernetesConfig{LookupEnv: tt.env, InterfaceAddrs: tt.ifaces})
			self, err := k.Self(t.Context())
			if tt.errMsg != "" {
				require.ErrorIs(t, err, ErrSelfNotFound)
				assert.ErrorContains(t, err, tt.errMsg)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, self)
			for _, q := range f.requests() {
				assert.Empty(t, q["fieldSelector"], "Self looks at pods in every phase")
			}
		})
	}
}

func TestKubernetesSelfAmbiguous(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	f.pods = []map[string]any{running("host-net-a", "10.0.0.1"), running("host-net-b", "10.0.0.1")}
	k := newTestKubernetes(t, srv, KubernetesConfig{LookupEnv: env("POD_IP", "10.0.0.1")})
	_, err := k.Self(t.Context())
	require.ErrorIs(t, err, ErrSelfNotFound)
	assert.ErrorContains(t, err, "host-net-a, host-net-b")
}

func TestKubernetesSelfListFails(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	f.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		writeStatus(w, http.StatusForbidden, "nope")
		return true
	}
	k := newTestKubernetes(t, srv, KubernetesConfig{LookupEnv: env("POD_NAME", "web-0")})
	_, err := k.Self(t.Context())
	require.ErrorIs(t, err, ErrSelfNotFound)
	assert.ErrorIs(t, err, ErrForbidden)
}

func TestKubernetesInClusterTLS(t *testing.T) {
	t.Parallel()
	f := &fakeAPI{t: t, token: "sa-token", pods: []map[string]any{running("web-0", "10.0.0.1")}}
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "token"), "sa-token\n")
	writeFile(t, filepath.Join(dir, "namespace"), "ns")
	writeFile(t, filepath.Join(dir, "ca.crt"), certPEM(srv))

	k, err := NewKubernetes(KubernetesConfig{
		InCluster: true, ServiceAccountDir: dir, LabelSelector: "app=web",
		LookupEnv: env("KUBERNETES_SERVICE_HOST", host, "KUBERNETES_SERVICE_PORT", port),
	})
	require.NoError(t, err)
	t.Cleanup(k.CloseIdleConnections)
	assert.Equal(t, "https://"+net.JoinHostPort(host, port), k.BaseURL())
	got, err := k.Peers(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []Peer{peer("web-0", "10.0.0.1:9990")}, got)

	// Without the CA the server is not trusted: unreachable, not a panic.
	require.NoError(t, os.Remove(filepath.Join(dir, "ca.crt")))
	_, err = NewKubernetes(KubernetesConfig{
		InCluster: true, ServiceAccountDir: dir, LabelSelector: "app=web",
		LookupEnv: env("KUBERNETES_SERVICE_HOST", host, "KUBERNETES_SERVICE_PORT", port),
	})
	require.ErrorIs(t, err, ErrInvalidConfig)

	untrusted, err := NewKubernetes(KubernetesConfig{BaseURL: srv.URL, LabelSelector: "app=web", Namespace: "ns", Retries: NoRetries})
	require.NoError(t, err)
	_, err = untrusted.Peers(t.Context())
	require.ErrorIs(t, err, ErrUnreachable)
	assert.ErrorContains(t, err, "certificate")
}
