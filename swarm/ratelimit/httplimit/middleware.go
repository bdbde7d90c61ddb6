package httplimit

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shoal-go/shoal/swarm/ratelimit"
)

// ErrInvalidOptions is returned by New when an Options field is invalid;
// the message names the field.
var ErrInvalidOptions = errors.New("shoal/httplimit: invalid options")

// DefaultPolicy is the policy name in the RateLimit fields when
// Options.Policy is empty.
const DefaultPolicy = "default"

// Options configure New. The zero value limits every request as one event
// under the key "" (right for Cluster), names the policy "default" and
// answers a denied request with 429 and a short text body.
type Options struct {
	// Key returns the request's key; nil gives every request the key "".
	Key KeyFunc
	// Cost returns how many events a request counts (a batch endpoint may
	// count its items); nil counts 1. A cost below 0 counts as 0.
	Cost func(r *http.Request) int
	// Policy names the limit in RateLimit and RateLimit-Policy: printable
	// ASCII without '"' or '\'. Default DefaultPolicy.
	Policy string
	// Deny answers a denied request. The rate-limit fields and
	// Retry-After are already set on w; Deny writes the status and body.
	// nil writes 429 Too Many Requests with a text body.
	Deny func(w http.ResponseWriter, r *http.Request, d ratelimit.Decision)
	// OnKeyError answers a request whose key could not be found (err
	// wraps ErrNoKey for a missing key). nil writes 400 Bad Request.
	OnKeyError func(w http.ResponseWriter, r *http.Request, err error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns middleware that decides every request with d before the
// wrapped handler runs. An admitted request reaches the handler with the
// rate-limit fields already set on the response; a denied one goes to
// Options.Deny and never reaches it. The middleware never blocks.
func New(d Decider, o Options) (func(http.Handler) http.Handler, error) {
	if d == nil {
		return nil, fmt.Errorf("%w: Decider is nil", ErrInvalidOptions)
	}
	if o.Policy == "" {
		o.Policy = DefaultPolicy
	}
	for i := 0; i < len(o.Policy); i++ {
		if c := o.Policy[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return nil, fmt.Errorf("%w: Policy %q: byte %d is not printable ASCII without '\"' or '\\'", ErrInvalidOptions, o.Policy, i)
		}
	}
	if o.Deny == nil {
		o.Deny = deny
	}
	if o.OnKeyError == nil {
		o.OnKeyError = keyError
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &middleware{d: d, o: o, item: `"` + o.Policy + `"`}
	m.windowSec = strconv.FormatInt(int64((d.Window()+time.Second-1)/time.Second), 10)
	return m.wrap, nil
}

type middleware struct {
	d    Decider
	o    Options
	item string // the policy name as a Structured Field string
	// windowSec is the window in whole seconds (rounded up) for w.
	windowSec string
	// policy caches the last RateLimit-Policy value: it changes only
	// when a key's limit does (KeyedLimiter.Resize).
	policy atomic.Pointer[policyField]
}

type policyField struct {
	limit int
	value []string
}

func (m *middleware) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := ""
		if m.o.Key != nil {
			k, err := m.o.Key(r)
			if err != nil {
				m.o.OnKeyError(w, r, err)
				return
			}
			key = k
		}
		n := 1
		if m.o.Cost != nil {
			n = max(m.o.Cost(r), 0)
		}
		now := m.o.Now()
		dec := m.d.Decide(now, key, n)
		m.setFields(w.Header(), now, dec)
		if !dec.Allowed {
			m.o.Deny(w, r, dec)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// setFields writes the IETF and X-RateLimit-* fields, and Retry-After
// when dec denies: the same fields as dec.SetHeaders plus the IETF ones.
// Every value is a substring of one string, so a request costs two
// allocations (the string and the values' slice), not two per field.
func (m *middleware) setFields(h http.Header, now time.Time, dec ratelimit.Decision) {
	p := m.policy.Load()
	if p == nil || p.limit != dec.Limit {
		p = &policyField{limit: dec.Limit, value: []string{
			m.item + ";q=" + strconv.Itoa(dec.Limit) + ";w=" + m.windowSec,
		}}
		m.policy.Store(p)
	}
	h["Ratelimit-Policy"] = p.value
	reset := int64(0)
	if !dec.ResetAt.IsZero() {
		if d := dec.ResetAt.Sub(now); d > 0 {
			reset = int64((d + time.Second - 1) / time.Second)
		}
	}
	var buf [160]byte
	var ends [5]int
	b := append(buf[:0], m.item...)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, int64(dec.Remaining), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, reset, 10)
	ends[0] = len(b)
	b = strconv.AppendInt(b, int64(dec.Limit), 10)
	ends[1] = len(b)
	b = strconv.AppendInt(b, int64(dec.Remaining), 10)
	ends[2] = len(b)
	b = strconv.AppendInt(b, (dec.ResetAt.UnixNano()+int64(time.Second)-1)/int64(time.Second), 10)
	ends[3] = len(b)
	if !dec.Allowed {
		b = strconv.AppendInt(b, int64(dec.RetryAfterSeconds()), 10)
	}
	ends[4] = len(b)
	s := string(b)
	v := make([]string, 5)
	v[0], v[1], v[2], v[3], v[4] = s[:ends[0]], s[ends[0]:ends[1]], s[ends[1]:ends[2]], s[ends[2]:ends[3]], s[ends[3]:ends[4]]
	h["Ratelimit"] = v[0:1:1]
	h["X-Ratelimit-Limit"] = v[1:2:2]
	h["X-Ratelimit-Remaining"] = v[2:3:3]
	h["X-Ratelimit-Reset"] = v[3:4:4]
	if !dec.Allowed {
		h["Retry-After"] = v[4:5:5]
	}
}

func deny(w http.ResponseWriter, _ *http.Request, _ ratelimit.Decision) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write([]byte("rate limit exceeded\n"))
}

func keyError(w http.ResponseWriter, _ *http.Request, err error) {
	http.Error(w, "no rate-limit key: "+err.Error(), http.StatusBadRequest)
}
