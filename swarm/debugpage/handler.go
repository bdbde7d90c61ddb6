package debugpage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/shoal-go/shoal/swarm"
)

// maxRefresh bounds the ?refresh= period, in seconds.
const maxRefresh = 3600

// Handler returns an http.Handler that serves n's debug page: an HTML page
// by default, the Report as JSON with ?format=json. ?refresh=N (1 to 3600
// seconds) makes the HTML page reload itself every N seconds. It answers
// GET and HEAD only.
//
// The page shows the cluster's membership, every shared value and what
// each replica contributes to it, and the node's traffic: mount it on an
// internal port, as you would net/http/pprof, not on a public listener.
func Handler(n *swarm.Node) http.Handler {
	return &handler{n: n, now: time.Now}
}

type handler struct {
	n   *swarm.Node
	now func() time.Time
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	refresh := 0
	if s := q.Get("refresh"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > maxRefresh {
			http.Error(w, fmt.Sprintf("refresh=%q: want whole seconds from 1 to %d", s, maxRefresh), http.StatusBadRequest)
			return
		}
		refresh = v
	}
	format := q.Get("format")
	if format != "" && format != "html" && format != "json" {
		http.Error(w, fmt.Sprintf("format=%q: want html or json", format), http.StatusBadRequest)
		return
	}
	rep := Collect(h.n, h.now())
	var buf bytes.Buffer
	if format == "json" {
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			http.Error(w, "encoding the report: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
	} else {
		if err := pageTemplate.Execute(&buf, pageData{Report: rep, Refresh: refresh}); err != nil {
			http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(buf.Bytes())
}
