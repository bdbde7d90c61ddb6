package main

import (
	"context"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"time"

	"github.com/shoal-go/shoal/swarm/debugpage"
)

// debugServer serves every node's debug page while the demo runs: an index
// at / and node i's page at /node-i.
type debugServer struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

var indexTemplate = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>shoal demo</title></head>
<body style="font: 14px system-ui, sans-serif; margin: 1.5em">
<h1 style="font-size: 1.4em">shoal demo: {{len .}} nodes</h1>
<ul>{{range .}}<li><a href="/{{.}}">{{.}}</a> (<a href="/{{.}}?format=json">JSON</a>)</li>{{end}}</ul>
</body></html>
`))

func startDebugServer(addr string, d *demo) (*debugServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-debug %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	var names []string
	for _, dn := range d.nodes {
		name := dn.node.Name()
		names = append(names, name)
		mux.Handle("/"+name, debugpage.Handler(dn.node))
	}
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = indexTemplate.Execute(w, names)
	})
	s := &debugServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		addr: ln.Addr().String(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// close stops the server and waits for it.
func (s *debugServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}
