package httplimit

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ErrNoKey is returned by a KeyFunc when the request carries no key (the
// header is absent, the route unknown, the address unparsable).
var ErrNoKey = errors.New("shoal/httplimit: request has no key")

// KeyFunc returns the key a request is limited by. It must be safe for
// concurrent use. An error (wrapping ErrNoKey when the key is missing)
// sends the request to Options.OnKeyError.
type KeyFunc func(r *http.Request) (string, error)

// ClientIP returns a KeyFunc keying a request by its client's IP address.
// The client is the connection's peer (r.RemoteAddr), unless that peer is
// one of trustedProxies: then X-Forwarded-For is read from the right, and
// the first address that is not a trusted proxy is the client. A header
// from an untrusted peer is ignored, so a client cannot choose its own
// key by sending one. Unparsable entries end the walk at the last trusted
// hop. With no trusted proxies the header is never read.
func ClientIP(trustedProxies ...netip.Prefix) KeyFunc {
	trusted := func(a netip.Addr) bool {
		for _, p := range trustedProxies {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) (string, error) {
		peer, err := remoteAddr(r.RemoteAddr)
		if err != nil {
			return "", err
		}
		if len(trustedProxies) == 0 || !trusted(peer) {
			return peer.String(), nil
		}
		client := peer
		hops := r.Header.Values("X-Forwarded-For")
		for i := len(hops) - 1; i >= 0; i-- {
			line := hops[i]
			for line != "" {
				var hop string
				if j := strings.LastIndexByte(line, ','); j >= 0 {
					hop, line = line[j+1:], line[:j]
				} else {
					hop, line = line, ""
				}
				a, err := netip.ParseAddr(strings.TrimSpace(hop))
				if err != nil {
					return client.String(), nil
				}
				client = a.Unmap()
				if !trusted(client) {
					return client.String(), nil
				}
			}
		}
		return client.String(), nil
	}
}

func remoteAddr(s string) (netip.Addr, error) {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: remote address %q: %v", ErrNoKey, s, err)
	}
	return a.Unmap(), nil
}

// Header returns a KeyFunc keying a request by the value of header name
// (an API key, a tenant). A request without it fails with ErrNoKey. With
// a KeyedLimiter the value never leaves the process in clear.
func Header(name string) KeyFunc {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request) (string, error) {
		v := r.Header.Get(name)
		if v == "" {
			return "", fmt.Errorf("%w: no %s header", ErrNoKey, name)
		}
		return v, nil
	}
}

// Route returns a KeyFunc keying a request by the ServeMux pattern that
// matched it (r.Pattern, e.g. "GET /items/{id}"), so every route has its
// own limit whatever its path parameters. The pattern is known only
// inside the mux: wrap each route's handler, not the mux. A request that
// matched no pattern fails with ErrNoKey.
func Route() KeyFunc {
	return func(r *http.Request) (string, error) {
		if r.Pattern == "" {
			return "", fmt.Errorf("%w: no route pattern (wrap the route's handler, not the ServeMux)", ErrNoKey)
		}
		return r.Pattern, nil
	}
}

// Join returns a KeyFunc whose key joins the keys of fns with a NUL
// byte: Join(Route(), ClientIP()) limits each client on each route.
func Join(fns ...KeyFunc) KeyFunc {
	return func(r *http.Request) (string, error) {
		var b strings.Builder
		for i, fn := range fns {
			k, err := fn(r)
			if err != nil {
				return "", err
			}
			if i > 0 {
				b.WriteByte(0)
			}
			b.WriteString(k)
		}
		return b.String(), nil
	}
}
