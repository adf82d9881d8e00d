// Engine stand-in for the test node. GPU inference engines cannot run on these machines, so
// this binary takes their place in pods: installed under each engine's command name (lmdeploy,
// vllm, transformers, ...), it reads the same arguments the real engine gets from our
// manifests, opens the ports the real engine would open, and serves a recorded /metrics
// sample of that engine on each rank port, plus the engine's health path.
// transformers serves no /metrics: its stand-in pushes OTLP metrics (with an exemplar) to the
// endpoint in OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, as `transformers serve` does under
// opentelemetry-instrument.
//
// It is a stand-in, not an engine: no model is loaded and the numbers are the samples'.
//
// Test control, on every port it serves:
//
//	POST /standin/stop-rank?rank=N  closes rank N's listener (the rank "dies"); the others stay.
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// samplesDir holds <engine>.prom or <engine>-rank<N>.prom, copied in when the image is built.
const samplesDir = "/samples"

// engine describes the command-line surface of one engine: which flag sets the first port,
// how many data-parallel API servers it starts and on which ports.
type engine struct {
	name string
	// portFlags: flags whose value is the (first) API port; defaultPort when absent.
	portFlags   []string
	defaultPort int
	// dpFlags: flags giving the data-parallel size; ranks with their own HTTP server only
	// when perRankServer (LMDeploy: one api_server per rank on consecutive ports).
	dpFlags       []string
	perRankServer bool
	healthPath    string
	otlp          bool
}

var engines = map[string]engine{
	// `lmdeploy serve api_server <model> --server-port P --dp N`: with --dp > 1 each rank serves
	// on P+rank (releases from 0.15 on; before, ports were random — see the engine profile).
	"lmdeploy": {name: "lmdeploy", portFlags: []string{"--server-port"}, defaultPort: 23333, dpFlags: []string{"--dp"}, perRankServer: true, healthPath: "/health"},
	// `vllm serve <model> --port P`: one API server; data-parallel engines are labelled in its /metrics.
	"vllm":                      {name: "vllm", portFlags: []string{"--port"}, defaultPort: 8000, healthPath: "/health"},
	"sglang":                    {name: "sglang", portFlags: []string{"--port"}, defaultPort: 30000, healthPath: "/health"},
	"text-generation-launcher": {name: "tgi", portFlags: []string{"--port", "-p"}, defaultPort: 80, healthPath: "/health"},
	"transformers":              {name: "transformers", portFlags: []string{"--port"}, defaultPort: 8000, healthPath: "/health", otlp: true},
}

func flagValue(args []string, names []string) (string, bool) {
	for i, a := range args {
		for _, n := range names {
			if a == n && i+1 < len(args) {
				return args[i+1], true
			}
			if strings.HasPrefix(a, n+"=") {
				return strings.TrimPrefix(a, n+"="), true
			}
		}
	}
	return "", false
}

func intFlag(args []string, names []string, def int) int {
	if v, ok := flagValue(args, names); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			log.Fatalf("stand-in: %s=%q is not a number", names[0], v)
		}
		return n
	}
	return def
}

func sample(engineName string, rank int) []byte {
	for _, f := range []string{fmt.Sprintf("%s-rank%d.prom", engineName, rank), engineName + ".prom"} {
		if b, err := os.ReadFile(filepath.Join(samplesDir, f)); err == nil {
			return b
		}
	}
	return nil
}

type rankServer struct {
	rank int
	srv  *http.Server
}

func main() {
	prog := filepath.Base(os.Args[0])
	args := os.Args[1:]
	// engine-standin <engine> <args...>, and opentelemetry-instrument <engine> <args...> (transformers
	// runs under the OpenTelemetry distro's launcher, which execs its arguments).
	for (prog == "engine-standin" || prog == "opentelemetry-instrument") && len(args) > 0 {
		prog, args = filepath.Base(args[0]), args[1:]
	}
	e, ok := engines[prog]
	if !ok {
		log.Fatalf("stand-in: unknown engine command %q", prog)
	}
	// `lmdeploy serve proxy`: the request router in front of the ranks; it serves no metrics.
	if e.name == "lmdeploy" && len(args) >= 2 && args[0] == "serve" && args[1] == "proxy" {
		port := intFlag(args, e.portFlags, 8000)
		log.Printf("stand-in: lmdeploy proxy on :%d", port)
		log.Fatal(http.ListenAndServe(fmt.Sprintf(":%d", port), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte("lmdeploy proxy stand-in\n"))
		})))
	}
	port := intFlag(args, e.portFlags, e.defaultPort)
	ranks := 1
	if e.perRankServer {
		ranks = intFlag(args, e.dpFlags, 1)
	}
	log.Printf("stand-in for %s (no model, recorded metrics): %d server(s) from port %d, args %q", e.name, ranks, port, args)

	var mu sync.Mutex
	servers := map[int]*rankServer{}
	stopRank := func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("rank"))
		mu.Lock()
		rs, ok := servers[n]
		delete(servers, n)
		mu.Unlock()
		if err != nil || !ok {
			http.Error(w, "no such rank", http.StatusNotFound)
			return
		}
		w.Write([]byte("stopping\n"))
		go func() { time.Sleep(100 * time.Millisecond); rs.srv.Close() }()
		log.Printf("stand-in: rank %d stopped on request", n)
	}
	var wg sync.WaitGroup
	for rank := 0; rank < ranks; rank++ {
		body := sample(e.name, rank)
		mux := http.NewServeMux()
		mux.HandleFunc(e.healthPath, func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
		mux.HandleFunc("/standin/stop-rank", stopRank)
		if !e.otlp {
			if body == nil {
				log.Fatalf("stand-in: no sample for %s rank %d in %s", e.name, rank, samplesDir)
			}
			mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
				w.Write(body)
			})
		}
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port+rank))
		if err != nil {
			log.Fatalf("stand-in: %v", err)
		}
		rs := &rankServer{rank: rank, srv: &http.Server{Handler: mux}}
		servers[rank] = rs
		wg.Add(1)
		go func() { defer wg.Done(); rs.srv.Serve(ln) }()
	}
	if e.otlp {
		go func() {
			if err := pushOTLP(context.Background()); err != nil {
				log.Fatalf("stand-in: OTLP push: %v", err)
			}
		}()
	}
	wg.Wait()
	// Every rank stopped: stay alive like an engine whose rank processes died, so the kubelet's
	// probes, not the process exit, decide what happens next.
	select {}
}
