package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// roleHandlers: one handler per port of the role, as the pod's engine serves it:
//   - "api": the release's GET routes from its catalog (the routes another server of the pod owns left out),
//     /metrics with the recorded body of that pod and port;
//   - "sglang-dummy-health" (SGLang node_rank >= 1): the listed paths, always 200; /metrics with the node's body
//     when the command line enables metrics, else 404;
//   - "dp-supervisor" (vLLM multi-port): /health, /ready, /readyz, 200 (its children are up from the start here).
func roleHandlers(role *mnRole, cat *catalog, args []string) []http.Handler {
	otherPaths := map[string]bool{}
	for _, p := range role.ports {
		if p.spec.Server != "api" {
			for _, path := range p.spec.Paths {
				otherPaths[path] = true
			}
		}
	}
	var out []http.Handler
	for _, p := range role.ports {
		mux := http.NewServeMux()
		var body *exposition
		if p.metrics != nil {
			body = &exposition{body: p.metrics}
			mux.Handle("/standin/add", addHandler(body))
		}
		metrics := func(w http.ResponseWriter, _ *http.Request) {
			if body == nil {
				http.NotFound(w, nil)
				return
			}
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			w.Write(body.get())
		}
		ok := func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }
		if p.spec.Server == "api" {
			registered := map[string]bool{}
			for _, r := range cat.Routes {
				if r.Path == "/metrics" || strings.ContainsAny(r.Path, "{<:") || !hasMethod(r.Methods, "GET") || registered[r.Path] || !r.servedBy(args) {
					continue
				}
				// A route served only with an option that makes another server of the pod (vLLM's supervisor routes).
				if len(r.OnlyWith) > 0 && otherPaths[r.Path] {
					continue
				}
				registered[r.Path] = true
				mux.HandleFunc(r.Path, ok)
			}
			if cat.hasRoute("/metrics") {
				mux.HandleFunc("/metrics", metrics)
			}
		} else {
			for _, path := range p.spec.Paths {
				if path == "/metrics" {
					mux.HandleFunc(path, metrics)
				} else {
					mux.HandleFunc(path, ok)
				}
			}
		}
		out = append(out, mux)
	}
	return out
}

// serveRole listens on every port of the role; POST /standin/stop-rank?rank=N on any of them closes the N-th
// port of the pod (its metrics ports first, in the layout's order), as in the single-node stand-in.
func serveRole(role *mnRole, cat *catalog, args []string) {
	handlers := roleHandlers(role, cat, args)
	var desc []string
	for _, p := range role.ports {
		what := p.spec.Server
		if p.metrics != nil {
			what += " /metrics " + p.spec.File
		}
		desc = append(desc, fmt.Sprintf(":%d %s", p.port, what))
	}
	log.Printf("stand-in: pod %d (%s) of %s %s mode %s: %s", role.pod.Index, role.pod.Role, role.layout.Engine, role.layout.Version,
		role.layout.Mode, strings.Join(desc, ", "))
	if len(role.ports) == 0 {
		log.Printf("stand-in: no HTTP server in this pod, like the engine (%s)", role.pod.Note)
		return
	}
	var mu sync.Mutex
	servers := map[int]*http.Server{}
	stop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("rank"))
		mu.Lock()
		srv, ok := servers[n]
		delete(servers, n)
		mu.Unlock()
		if err != nil || !ok {
			http.Error(w, "no such rank", http.StatusNotFound)
			return
		}
		w.Write([]byte("stopping\n"))
		go func() { time.Sleep(100 * time.Millisecond); srv.Close() }()
		log.Printf("stand-in: port %d (rank %d) stopped on request", role.ports[n].port, n)
	})
	for i, p := range role.ports {
		mux := http.NewServeMux()
		mux.Handle("/standin/stop-rank", stop)
		mux.Handle("/", handlers[i])
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", p.port))
		if err != nil {
			log.Fatalf("stand-in: %v", err)
		}
		srv := &http.Server{Handler: mux}
		mu.Lock()
		servers[i] = srv
		mu.Unlock()
		go srv.Serve(ln)
	}
}
