package swarm_test

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm"
)

// The predecessor's exported API (skipper's swarm package, the release
// with ClientKubernetes and KubernetesOptions' label selector), each name
// with its signature there. This file does not compile if shoal changes
// one of them.

// nodeInfoClient is the predecessor's (unexported) client interface: its
// NewNodeInfoClient* functions return values a caller uses through it.
type nodeInfoClient interface {
	GetNodeInfo() ([]*swarm.NodeInfo, error)
	Self() *swarm.NodeInfo
}

var (
	_ func(*swarm.Options) (*swarm.Swarm, error)                                            = swarm.NewSwarm
	_ func(swarm.Options) (*swarm.Swarm, error)                                             = swarm.Start
	_ func(swarm.Options, *swarm.NodeInfo, []*swarm.NodeInfo, func()) (*swarm.Swarm, error) = swarm.Join
	_ func(string, string) (*swarm.NodeInfo, error)                                         = swarm.NewStaticNodeInfo
	_ func(string, net.IP, uint16) *swarm.NodeInfo                                          = swarm.NewFakeNodeInfo
	_ func(*swarm.NodeInfo, []*swarm.NodeInfo) *swarm.StaticSwarm                           = swarm.NewStaticSwarm
	_ func(bool, string) (*swarm.ClientKubernetes, error)                                   = swarm.NewClientKubernetes

	_ interface {
		Local() *swarm.NodeInfo
		Broadcast(interface{}) error
		ShareValue(string, interface{}) error
		Values(string) map[string]interface{}
		Leave()
	} = (*swarm.Swarm)(nil)
	_ interface {
		Self() *swarm.NodeInfo
		GetNodeInfo() ([]*swarm.NodeInfo, error)
	} = (*swarm.StaticSwarm)(nil)
	_ interface {
		Get(string) (*http.Response, error)
		Stop()
	} = (*swarm.ClientKubernetes)(nil)
	_ fmt.Stringer = swarm.NodeInfo{}

	// Self and EntryPoint have exactly the predecessor's method sets.
	_ swarm.Self                             = interface{ Node() *swarm.NodeInfo }(nil)
	_ interface{ Node() *swarm.NodeInfo }    = swarm.Self(nil)
	_ swarm.EntryPoint                       = interface{ Nodes() []*swarm.NodeInfo }(nil)
	_ interface{ Nodes() []*swarm.NodeInfo } = swarm.EntryPoint(nil)

	// Struct fields with their types.
	_ = swarm.Options{
		MaxMessageBuffer: int(0), LeaveTimeout: time.Duration(0), SwarmPort: uint16(0),
		KubernetesOptions: (*swarm.KubernetesOptions)(nil), StaticSwarm: (*swarm.StaticSwarm)(nil),
		FakeSwarm: false, FakeSwarmLocalNode: "", Debug: false,
	}
	_ = swarm.KubernetesOptions{
		KubernetesInCluster: false, KubernetesAPIBaseURL: "", Namespace: "", LabelSelectorKey: "", LabelSelectorValue: "",
	}
	_ = swarm.NodeInfo{Name: "", Addr: net.IP(nil), Port: uint16(0)}
	_ = swarm.Message{Source: "", Value: interface{}(nil)}

	// Constants and variables.
	_ int             = swarm.DefaultMaxMessageBuffer
	_ int             = swarm.DefaultPort
	_ time.Duration   = swarm.DefaultLeaveTimeout
	_ string          = swarm.DefaultNamespace
	_ string          = swarm.DefaultLabelSelectorKey
	_ string          = swarm.DefaultLabelSelectorValue
	_ error           = swarm.ErrUnknownSwarm
	_ swarm.NodeState = swarm.Initial
	_ swarm.NodeState = swarm.Connected
	_ swarm.NodeState = swarm.Disconnected
	_ int             = int(swarm.Initial)
)

// The NodeInfoClient constructors are called as the predecessor's callers
// call them: one result (or a client and a cleanup), used through the
// client interface. NewNodeInfoClientKubernetes returning two values, as
// it once did here, does not compile.
func TestClassicAPIPredecessorCallShapes(t *testing.T) {
	o := swarm.Options{FakeSwarm: true, FakeSwarmLocalNode: "shape", FakeRegistry: nil}
	var nic nodeInfoClient = swarm.NewNodeInfoClientFake(o)
	require.Equal(t, "shape", nic.Self().Name)
	nodes, err := nic.GetNodeInfo()
	require.NoError(t, err)
	require.Equal(t, "shape", nodes[0].Name, "the fake client lists itself first")

	c, cleanup := swarm.NewNodeInfoClient(o)
	nic = c
	require.NotNil(t, nic.Self())
	cleanup()

	k := swarm.NewNodeInfoClientKubernetes(swarm.Options{}) // no KubernetesOptions
	nic = k
	require.Nil(t, nic.Self())
	_, err = nic.GetNodeInfo()
	require.ErrorIs(t, err, swarm.ErrInvalidConfig, "the configuration error comes out of GetNodeInfo")
	_, err = swarm.NewKubernetesNodeInfoClient(swarm.Options{})
	require.ErrorIs(t, err, swarm.ErrInvalidConfig)
	require.Equal(t, "initial connected disconnected", fmt.Sprint(swarm.Initial, " ", swarm.Connected, " ", swarm.Disconnected))
}
