package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type loadOptions struct {
	targets     []string
	rate        float64       // requests per second, all targets together
	duration    time.Duration // how long to send
	window      time.Duration // the limit's window, for the report
	concurrency int
	header      string // "Name: value" sent with every request (a client key)
}

func parseLoad(args []string, stderr io.Writer) (loadOptions, error) {
	var o loadOptions
	fs := flag.NewFlagSet("ratelimit load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	targets := fs.String("targets", "http://127.0.0.1:8080", "comma-separated base URLs of the servers; requests go round-robin")
	fs.Float64Var(&o.rate, "rate", 20, "requests per second, all servers together")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long to send")
	fs.DurationVar(&o.window, "window", 10*time.Second, "the limit's window: admissions are reported per window")
	fs.IntVar(&o.concurrency, "concurrency", 16, "requests in flight at most")
	fs.StringVar(&o.header, "header", "", `a header sent with every request, "Name: value" (e.g. "X-Api-Key: alice")`)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, t := range strings.Split(*targets, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		u, err := url.Parse(t)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, fmt.Errorf("-targets: %q is not an http(s) URL", t)
		}
		o.targets = append(o.targets, t)
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	case len(o.targets) == 0:
		return o, errors.New("-targets: give at least one URL")
	case o.rate <= 0 || o.rate > 100000:
		return o, fmt.Errorf("-rate %v: want more than 0 and at most 100000", o.rate)
	case o.duration <= 0 || o.window <= 0:
		return o, errors.New("-duration and -window must be positive")
	case o.concurrency < 1:
		return o, fmt.Errorf("-concurrency %d: want at least 1", o.concurrency)
	case o.header != "" && !strings.Contains(o.header, ":"):
		return o, fmt.Errorf(`-header %q: want "Name: value"`, o.header)
	}
	return o, nil
}

// response is one request's outcome, at its offset from the start.
type response struct {
	at       time.Duration
	status   int // 0: transport error
	headerOK bool
}

// loadResult is what the load command reports.
type loadResult struct {
	Sent, Admitted, Denied, Errors int64
	// Limit is the X-RateLimit-Limit the servers announced (0 if none).
	Limit int
	// Windows are consecutive windows from the start.
	Windows []windowCount
	// WorstSliding is the most requests admitted in any window-long span.
	WorstSliding int64
	// BadHeaders counts responses without valid rate-limit headers
	// (X-RateLimit-Limit and -Remaining on all, Retry-After ≥ 1 on 429).
	BadHeaders int64
}

type windowCount struct {
	Start          time.Duration
	Sent, Admitted int64
	Denied, Errors int64
	Complete       bool
}

// runLoad offers o.rate requests per second for o.duration, round-robin
// over the targets, and reports each window as it completes to progress.
func runLoad(ctx context.Context, o loadOptions, client *http.Client, progress io.Writer) (loadResult, error) {
	var hname, hvalue string
	if o.header != "" {
		hname, hvalue, _ = strings.Cut(o.header, ":")
		hname, hvalue = strings.TrimSpace(hname), strings.TrimSpace(hvalue)
	}
	var (
		mu    sync.Mutex
		resps []response
		limit int
	)
	jobs := make(chan int, o.concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				at := time.Since(start)
				r, l := send(ctx, client, o.targets[i%len(o.targets)], hname, hvalue)
				r.at = at
				mu.Lock()
				resps = append(resps, r)
				if l > 0 {
					limit = l
				}
				mu.Unlock()
			}
		}()
	}

	interval := time.Duration(float64(time.Second) / o.rate)
	tick := time.NewTicker(interval)
	reported := 0
	report := func(final bool) {
		mu.Lock()
		snapshot := append([]response(nil), resps...)
		l := limit
		mu.Unlock()
		ws := windows(snapshot, o.window, time.Since(start), final)
		for ; reported < len(ws) && (ws[reported].Complete || final); reported++ {
			fmt.Fprintln(progress, ws[reported].line(o.window, l))
		}
	}
	deadline := time.NewTimer(o.duration)
	nextReport := time.NewTicker(o.window)
	i := 0
send:
	for {
		select {
		case <-ctx.Done():
			break send
		case <-deadline.C:
			break send
		case <-nextReport.C:
			report(false)
		case <-tick.C:
			select {
			case jobs <- i:
				i++
			default: // every worker busy: this request is not offered
			}
		}
	}
	tick.Stop()
	nextReport.Stop()
	close(jobs)
	wg.Wait()

	res := loadResult{Limit: limit, Windows: windows(resps, o.window, time.Since(start), true)}
	var admittedAt []time.Duration
	for _, r := range resps {
		res.Sent++
		switch r.status {
		case http.StatusOK:
			res.Admitted++
			admittedAt = append(admittedAt, r.at)
		case http.StatusTooManyRequests:
			res.Denied++
		default:
			res.Errors++
		}
		if r.status != 0 && !r.headerOK {
			res.BadHeaders++
		}
	}
	res.WorstSliding = worstSliding(admittedAt, o.window)
	for ; reported < len(res.Windows); reported++ {
		fmt.Fprintln(progress, res.Windows[reported].line(o.window, limit))
	}
	if res.Sent > 0 && res.Errors == res.Sent {
		return res, fmt.Errorf("all %d requests failed", res.Sent)
	}
	return res, nil
}

// send makes one request and checks the rate-limit headers. It returns the
// announced limit (0 if absent).
func send(ctx context.Context, client *http.Client, target, hname, hvalue string) (response, int) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+"/", nil)
	if err != nil {
		return response{}, 0
	}
	if hname != "" {
		req.Header.Set(hname, hvalue)
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r := response{status: resp.StatusCode}
	limit, errL := strconv.Atoi(resp.Header.Get("X-RateLimit-Limit"))
	_, errR := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining"))
	r.headerOK = errL == nil && errR == nil && limit > 0
	if resp.StatusCode == http.StatusTooManyRequests {
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		r.headerOK = r.headerOK && err == nil && ra >= 1
	}
	if errL != nil {
		limit = 0
	}
	return r, limit
}

// windows splits the responses into consecutive windows from the start;
// the last one is complete only if elapsed covers it.
func windows(resps []response, w, elapsed time.Duration, final bool) []windowCount {
	n := int(elapsed / w)
	if final && elapsed%w != 0 {
		n++
	}
	out := make([]windowCount, n)
	for k := range out {
		out[k].Start = time.Duration(k) * w
		out[k].Complete = time.Duration(k+1)*w <= elapsed
	}
	for _, r := range resps {
		k := int(r.at / w)
		if k >= n {
			continue
		}
		out[k].Sent++
		switch r.status {
		case http.StatusOK:
			out[k].Admitted++
		case http.StatusTooManyRequests:
			out[k].Denied++
		default:
			out[k].Errors++
		}
	}
	return out
}

// worstSliding returns the most admissions within any span of length w.
func worstSliding(at []time.Duration, w time.Duration) int64 {
	sort.Slice(at, func(i, j int) bool { return at[i] < at[j] })
	best, j := 0, 0
	for i := range at {
		for at[i]-at[j] >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return int64(best)
}

func (wc windowCount) line(w time.Duration, limit int) string {
	span := fmt.Sprintf("[%v, %v)", wc.Start, wc.Start+w)
	if !wc.Complete {
		span += " (partial)"
	}
	ratio := ""
	if limit > 0 {
		ratio = fmt.Sprintf(" = %.2f× the limit of %d", float64(wc.Admitted)/float64(limit), limit)
	}
	return fmt.Sprintf("window %s: sent %d, admitted %d%s, denied %d, errors %d",
		span, wc.Sent, wc.Admitted, ratio, wc.Denied, wc.Errors)
}

func loadMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseLoad(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "ratelimit load:", err)
		return 2
	}
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: o.concurrency},
	}
	defer client.CloseIdleConnections()
	fmt.Fprintf(stdout, "offering %.0f requests/s to %d servers for %v\n", o.rate, len(o.targets), o.duration)
	res, err := runLoad(ctx, o, client, stdout)
	fmt.Fprintf(stdout, "total: sent %d, admitted %d, denied %d, errors %d; most admitted in any %v span: %d",
		res.Sent, res.Admitted, res.Denied, res.Errors, o.window, res.WorstSliding)
	if res.Limit > 0 {
		fmt.Fprintf(stdout, " (%.2f× the limit)", float64(res.WorstSliding)/float64(res.Limit))
	}
	fmt.Fprintln(stdout)
	if res.BadHeaders > 0 {
		fmt.Fprintf(stdout, "%d responses lacked valid rate-limit headers\n", res.BadHeaders)
	}
	if err != nil {
		fmt.Fprintln(stderr, "ratelimit load:", err)
		return 1
	}
	return 0
}
