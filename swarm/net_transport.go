package swarm

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/memberlist"
)

// netTransport is the node's network transport when Config.Transport is
// unset: memberlist's NetTransport design (UDP packets and TCP streams on
// one port of one address), with one change. NetTransport reads every
// packet into a fresh 64 KiB buffer (its udpPacketBufSize), which the
// packet keeps until memberlist has handled it: at a few thousand
// packets a second that was four fifths of every byte a loaded node
// allocated (100 nodes on two cores under the rate-limit scenario: 34 of
// 43 GB in 30 s), and the garbage collector's work starved the nodes'
// timers. Here a packet is read into one reused buffer and copied into a
// slice of its own size.
type netTransport struct {
	bindAddr string
	tcp      *net.TCPListener
	udp      *net.UDPConn
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	logger   *log.Logger
	shutdown atomic.Bool
	wg       sync.WaitGroup
}

var _ memberlist.NodeAwareTransport = (*netTransport)(nil)

const (
	// maxUDPPacket is the largest UDP payload: no packet is cut.
	maxUDPPacket = 65536
	// udpRecvBuf is the socket receive buffer asked for (halved until the
	// kernel accepts it), as memberlist's: bursts wait there, not lost.
	udpRecvBuf = 2 << 20
)

// newNetTransport listens on addr:port (port 0: a free one, the same for
// TCP and UDP).
func newNetTransport(addr string, port int, logger *log.Logger) (*netTransport, error) {
	ip := net.ParseIP(addr)
	if ip == nil {
		return nil, fmt.Errorf("bind address %q is not an IP address", addr)
	}
	t := &netTransport{bindAddr: addr, packetCh: make(chan *memberlist.Packet), streamCh: make(chan net.Conn), logger: logger}
	tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
	if err != nil {
		return nil, fmt.Errorf("TCP listener: %w", err)
	}
	if port == 0 {
		port = tcp.Addr().(*net.TCPAddr).Port
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
	if err != nil {
		_ = tcp.Close()
		return nil, fmt.Errorf("UDP listener: %w", err)
	}
	for size := udpRecvBuf; size > 0; size /= 2 {
		if err = udp.SetReadBuffer(size); err == nil {
			break
		}
	}
	if err != nil {
		_ = tcp.Close()
		_ = udp.Close()
		return nil, fmt.Errorf("UDP receive buffer: %w", err)
	}
	t.tcp, t.udp = tcp, udp
	t.wg.Add(2)
	go t.acceptStreams()
	go t.readPackets()
	return t, nil
}

// port returns the port bound (chosen by the kernel for port 0).
func (t *netTransport) port() int { return t.tcp.Addr().(*net.TCPAddr).Port }

func (t *netTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip != "" {
		a := net.ParseIP(ip)
		if a == nil {
			return nil, 0, fmt.Errorf("advertise address %q is not an IP address", ip)
		}
		if a4 := a.To4(); a4 != nil {
			a = a4
		}
		return a, port, nil
	}
	if t.bindAddr != "0.0.0.0" {
		return t.tcp.Addr().(*net.TCPAddr).IP, t.port(), nil
	}
	// Bound to every interface: advertise a private address.
	priv, err := sockaddr.GetPrivateIP()
	if err != nil {
		return nil, 0, fmt.Errorf("interface addresses: %w", err)
	}
	a := net.ParseIP(priv)
	if a == nil {
		return nil, 0, errors.New("no private IP address found, and no advertise address set")
	}
	return a, t.port(), nil
}

func (t *netTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *netTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	ap, err := netip.ParseAddrPort(a.Addr)
	if err != nil {
		// A host name: resolve it, as NetTransport does.
		ua, rerr := net.ResolveUDPAddr("udp", a.Addr)
		if rerr != nil {
			return time.Time{}, rerr
		}
		_, err = t.udp.WriteToUDP(b, ua)
		return time.Now(), err
	}
	_, err = t.udp.WriteToUDPAddrPort(b, ap)
	return time.Now(), err
}

func (t *netTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

func (t *netTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *netTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", a.Addr)
}

func (t *netTransport) StreamCh() <-chan net.Conn { return t.streamCh }

func (t *netTransport) Shutdown() error {
	t.shutdown.Store(true)
	_ = t.tcp.Close()
	_ = t.udp.Close()
	t.wg.Wait()
	return nil
}

// acceptStreams hands accepted connections to memberlist, backing off
// (5 ms doubling to 1 s) while accepting fails.
func (t *netTransport) acceptStreams() {
	defer t.wg.Done()
	var delay time.Duration
	for {
		conn, err := t.tcp.AcceptTCP()
		if err != nil {
			if t.shutdown.Load() {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.logger.Printf("[ERR] memberlist: Error accepting TCP connection: %v", err)
			time.Sleep(delay)
			continue
		}
		delay = 0
		t.streamCh <- conn
	}
}

// readPackets hands received packets to memberlist, each in a buffer of
// its own size.
func (t *netTransport) readPackets() {
	defer t.wg.Done()
	buf := make([]byte, maxUDPPacket)
	for {
		n, from, err := t.udp.ReadFromUDPAddrPort(buf)
		ts := time.Now()
		if err != nil {
			if t.shutdown.Load() {
				return
			}
			t.logger.Printf("[ERR] memberlist: Error reading UDP packet: %v", err)
			continue
		}
		if n < 1 {
			t.logger.Printf("[ERR] memberlist: UDP packet too short (0 bytes) from %s", from)
			continue
		}
		pkt := make([]byte, n)
		copy(pkt, buf)
		t.packetCh <- &memberlist.Packet{
			Buf:       pkt,
			From:      net.UDPAddrFromAddrPort(from),
			Timestamp: ts,
		}
	}
}
