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
// What it does check is the command line: it parses its arguments with the recorded parser of
// the engine release it stands in for (/catalogs/<engine>-<version>.json, see cli.go; the version
// from STANDIN_ENGINE_VERSION, else the profile's default in /catalogs/defaults.json) and, when
// that release would refuse them, prints the release's error and exits with its status. It serves
// only the GET routes that release has (a probe on a route it lacks gets 404).
//
// A pod of a multi-node group (LeaderWorkerSet) plays its recorded role instead: the mode and pod index come from
// its command line (and LWS_WORKER_INDEX where the engine's command line does not carry it), and it serves, on each
// port that pod of the engine serves, that pod's recorded /metrics or only its health routes (multinode.go;
// recordings in /samples/engines/<engine>-<version>/multinode/, STANDIN_RECORDINGS elsewhere). `ray start` is the
// worker pod of a vLLM group on Ray: no HTTP server.
//
//	engine-standin check   reads {"catalog","argv","env"} JSON lines on stdin and writes one
//	                       {"accepted","exitCode","message"} line per input (the tests' batch check).
//
// Test control, on every port it serves:
//
//	POST /standin/stop-rank?rank=N  closes rank N's listener (the rank "dies"); the others stay.
//	POST /standin/add?metric=NAME&by=X  (a multi-node pod's /metrics ports) adds X to every sample of the counter
//	                       NAME on that port: the recording is a frozen moment, counters still, gauges running.
package main

import (
	"context"
	"encoding/json"
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

// catalogsDir holds the recorded command-line catalogs and defaults.json ({"vllm": "0.33.0", ...});
// STANDIN_CATALOGS points elsewhere (a checkout's test/fixtures/engine-cli, to run the stand-in outside its image).
var catalogsDir = func() string {
	if d := os.Getenv("STANDIN_CATALOGS"); d != "" {
		return d
	}
	return "/catalogs"
}()

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
	otlp          bool
}

var engines = map[string]engine{
	// `lmdeploy serve api_server <model> --server-port P --dp N`: with --dp > 1 each rank serves
	// on P+rank (releases from 0.15 on; before, ports were random — see the engine profile).
	"lmdeploy": {name: "lmdeploy", portFlags: []string{"--server-port"}, defaultPort: 23333, dpFlags: []string{"--dp"}, perRankServer: true},
	// `vllm serve <model> --port P`: one API server; data-parallel engines are labelled in its /metrics.
	"vllm": {name: "vllm", portFlags: []string{"--port"}, defaultPort: 8000},
	// `python3 -m sglang.launch_server --port P`
	"sglang":                   {name: "sglang", portFlags: []string{"--port"}, defaultPort: 30000},
	"text-generation-launcher": {name: "tgi", portFlags: []string{"--port", "-p"}, defaultPort: 80},
	"transformers":             {name: "transformers", portFlags: []string{"--port"}, defaultPort: 8000, otlp: true},
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
	if prog == "engine-standin" && len(args) == 1 && args[0] == "check" {
		os.Exit(checkBatch())
	}
	// engine-standin <engine> <args...>, and opentelemetry-instrument <engine> <args...> (transformers
	// runs under the OpenTelemetry distro's launcher, which execs its arguments).
	for (prog == "engine-standin" || prog == "opentelemetry-instrument") && len(args) > 0 {
		prog, args = filepath.Base(args[0]), args[1:]
	}
	argv := append([]string{prog}, args...)
	// `ray start --address=... --block`: the worker pod of a vLLM group on Ray (multinode.go).
	if prog == "ray" {
		pod, err := rayWorker(args, os.LookupEnv)
		if err != nil {
			fmt.Fprintln(os.Stderr, "stand-in:", err)
			os.Exit(2)
		}
		log.Printf("stand-in for a vLLM Ray worker (pod %d): no HTTP server, like the real worker (%s)", pod.Index, pod.Note)
		stayAlive()
	}
	// `python3 -m sglang.launch_server ...`
	if prog == "python3" && len(args) >= 2 && args[0] == "-m" && args[1] == "sglang.launch_server" {
		prog = "sglang"
	}
	e, ok := engines[prog]
	if !ok {
		log.Fatalf("stand-in: unknown engine command %q", prog)
	}
	cat, version, cl := refuseLikeTheEngine(e.name, argv)
	// A pod of a multi-node group: serve what that pod of the engine serves (multinode.go).
	role, warnings, err := resolveRole(recordingsRoot(), e.name, version, cl, os.LookupEnv, func(recorded []string) (cmdline, error) {
		p, rest, ok := cat.programFor(recorded)
		if !ok {
			return cmdline{}, fmt.Errorf("%q is none of the recorded programs", recorded)
		}
		values, uerr := p.parse(rest, os.LookupEnv)
		if uerr != nil {
			return cmdline{}, uerr
		}
		return cmdline{prog: p, values: values}, nil
	})
	for _, w := range warnings {
		log.Printf("stand-in: %s", w)
	}
	if err != nil {
		log.Fatalf("stand-in for %s %s: %v", e.name, version, err)
	}
	if role != nil {
		serveRole(role, cat, args)
		stayAlive()
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
		// A route can be recorded more than once (several methods, several source files): one handler per path.
		registered := map[string]bool{}
		for _, r := range cat.Routes {
			if r.Path == "/metrics" || strings.ContainsAny(r.Path, "{<:") || !hasMethod(r.Methods, "GET") || registered[r.Path] || !r.servedBy(args) {
				continue
			}
			registered[r.Path] = true
			mux.HandleFunc(r.Path, func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
		}
		mux.HandleFunc("/standin/stop-rank", stopRank)
		if !e.otlp && cat.hasRoute("/metrics") {
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
	stayAlive()
}

// stayAlive blocks for good. Not `select {}`: once the last listener is closed (every rank stopped with
// /standin/stop-rank, or a role with no server at all) no goroutine is left, and the Go runtime may then end the
// process with "all goroutines are asleep - deadlock!" (exit 2): the container restarts at once and its probes
// never see the dead rank. A pending timer keeps the runtime from declaring a deadlock.
func stayAlive() {
	for {
		time.Sleep(time.Hour)
	}
}

func hasMethod(methods []string, m string) bool {
	if len(methods) == 0 {
		return true
	}
	for _, x := range methods {
		if strings.EqualFold(x, m) {
			return true
		}
	}
	return false
}

// defaultVersion: the profile's default release of engine (/catalogs/defaults.json).
func defaultVersion(engine string) string {
	var defaults map[string]string
	b, err := os.ReadFile(filepath.Join(catalogsDir, "defaults.json"))
	if err == nil {
		err = json.Unmarshal(b, &defaults)
	}
	if err != nil {
		log.Fatalf("stand-in: no engine version (STANDIN_ENGINE_VERSION) and no %s/defaults.json: %v", catalogsDir, err)
	}
	return defaults[engine]
}

// refuseLikeTheEngine parses argv with the recorded parser of the release this stand-in plays and
// exits as that release would when it refuses the command line. It returns the catalog, the release
// and the command line as the parser read it.
func refuseLikeTheEngine(engine string, argv []string) (*catalog, string, cmdline) {
	version := os.Getenv("STANDIN_ENGINE_VERSION")
	if version == "" {
		version = defaultVersion(engine)
	}
	path := filepath.Join(catalogsDir, fmt.Sprintf("%s-%s.json", engine, version))
	cat, err := loadCatalog(path)
	if err != nil {
		log.Fatalf("stand-in: no recorded command line for %s %s: %v", engine, version, err)
	}
	p, rest, ok := cat.programFor(argv)
	if !ok {
		fmt.Fprintf(os.Stderr, "stand-in for %s %s: %q is none of the recorded programs\n", engine, version, argv)
		os.Exit(2)
	}
	values, uerr := p.parse(rest, os.LookupEnv)
	if uerr != nil {
		fmt.Fprintln(os.Stderr, uerr.message)
		os.Exit(uerr.exitCode)
	}
	log.Printf("stand-in for %s %s: command line accepted by its recorded parser", engine, version)
	return cat, version, cmdline{prog: p, values: values}
}

type checkRequest struct {
	Catalog string            `json:"catalog"`
	Argv    []string          `json:"argv"`
	Env     map[string]string `json:"env"`
}

type checkResult struct {
	Accepted bool   `json:"accepted"`
	ExitCode int    `json:"exitCode"`
	Message  string `json:"message"`
}

func checkBatch() int {
	dec := json.NewDecoder(os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	for {
		var req checkRequest
		if err := dec.Decode(&req); err != nil {
			if err.Error() == "EOF" {
				return 0
			}
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		res := checkResult{Accepted: true}
		cat, err := loadCatalog(req.Catalog)
		if err != nil {
			res = checkResult{ExitCode: 1, Message: err.Error()}
		} else if p, rest, ok := cat.programFor(req.Argv); !ok {
			res = checkResult{ExitCode: 2, Message: fmt.Sprintf("%q is none of the recorded programs", req.Argv)}
		} else if _, uerr := p.parse(rest, func(k string) (string, bool) { v, ok := req.Env[k]; return v, ok }); uerr != nil {
			res = checkResult{ExitCode: uerr.exitCode, Message: uerr.message}
		}
		if err := enc.Encode(res); err != nil {
			return 1
		}
	}
}
