package main

// Role selection over the recorded multi-node layouts (test/fixtures/engines/*/multinode/*/layout.json) and the
// releases' recorded command-line catalogs: each pod's own command line, parsed by its release's parser, makes the
// stand-in that pod of that mode, on that pod's ports, with that pod's recorded /metrics.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var repo = filepath.Join("..", "..", "..")
var fixtures = filepath.Join(repo, "test", "fixtures", "engines")

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

type fixtureLayout struct {
	path   string
	layout mnLayout
}

func allLayouts(t *testing.T) []fixtureLayout {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(fixtures, "*", "multinode", "*", "layout.json"))
	if len(paths) < 7 {
		t.Fatalf("expected the 7 recorded multi-node modes, found %d", len(paths))
	}
	var out []fixtureLayout
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var l mnLayout
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, fixtureLayout{p, l})
	}
	return out
}

func catalogOf(t *testing.T, engine, version string) *catalog {
	t.Helper()
	c, err := loadCatalog(filepath.Join(repo, "test", "fixtures", "engine-cli", fmt.Sprintf("%s-%s.json", engine, version)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func parserOf(cat *catalog, env func(string) (string, bool)) func([]string) (cmdline, error) {
	return func(argv []string) (cmdline, error) {
		p, rest, ok := cat.programFor(argv)
		if !ok {
			return cmdline{}, fmt.Errorf("%q is none of the recorded programs", argv)
		}
		values, uerr := p.parse(rest, env)
		if uerr != nil {
			return cmdline{}, uerr
		}
		return cmdline{prog: p, values: values}, nil
	}
}

// role plays argv as pod `index` of a group of `size` (LWS env) and returns the role.
func role(t *testing.T, engine, version string, argv []string, env map[string]string) (*mnRole, []string, error) {
	t.Helper()
	cat := catalogOf(t, engine, version)
	parse := parserOf(cat, envOf(env))
	c, err := parse(argv)
	if err != nil {
		t.Fatalf("%q refused by the recorded parser: %v", argv, err)
	}
	return resolveRole(fixtures, engine, version, c, envOf(env), parse)
}

func TestEveryRecordedPodSelectsItsOwnRole(t *testing.T) {
	for _, f := range allLayouts(t) {
		l := f.layout
		for _, pod := range l.Pods {
			env := map[string]string{"LWS_WORKER_INDEX": fmt.Sprint(pod.Index), "LWS_GROUP_SIZE": fmt.Sprint(l.GroupSize)}
			name := fmt.Sprintf("%s-%s %s pod %d", l.Engine, l.Version, l.Mode, pod.Index)
			if pod.Program == "ray start" {
				t.Setenv("STANDIN_RECORDINGS", fixtures)
				t.Setenv("STANDIN_ENGINE_VERSION", l.Version)
				got, err := rayWorker(pod.Argv[1:], envOf(env))
				if err != nil || got.Index != pod.Index || len(got.MetricsPorts)+len(got.HealthOnlyPorts) != 0 {
					t.Errorf("%s: ray worker %v %v", name, got, err)
				}
				continue
			}
			r, warnings, err := role(t, l.Engine, l.Version, pod.Argv, env)
			if err != nil || r == nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if len(warnings) > 0 {
				t.Errorf("%s: warnings %v", name, warnings)
			}
			if r.layout.Mode != l.Mode || r.pod.Index != pod.Index {
				t.Errorf("%s: selected %s pod %d", name, r.layout.Mode, r.pod.Index)
			}
			want := append(append([]mnPortSpec{}, pod.MetricsPorts...), pod.HealthOnlyPorts...)
			if len(r.ports) != len(want) {
				t.Errorf("%s: %d ports, want %d", name, len(r.ports), len(want))
				continue
			}
			for i, p := range r.ports {
				if p.port != want[i].Port {
					t.Errorf("%s: port %d, want %d", name, p.port, want[i].Port)
				}
				if want[i].File == "" {
					if p.metrics != nil {
						t.Errorf("%s: port %d serves /metrics, the recording says health only", name, p.port)
					}
					continue
				}
				body, _ := os.ReadFile(filepath.Join(filepath.Dir(f.path), want[i].File))
				if !bytes.Equal(p.metrics, body) {
					t.Errorf("%s: port %d does not serve %s", name, p.port, want[i].File)
				}
			}
		}
	}
}

func TestTheCommandLineDecidesNotTheLayoutFile(t *testing.T) {
	hybrid := func(start, dp string, extra ...string) []string {
		return append([]string{"vllm", "serve", "m", "--port", "9000", "--data-parallel-size", dp, "--data-parallel-size-local", "2",
			"--data-parallel-address", "leader", "--data-parallel-start-rank", start}, extra...)
	}
	// serve.py: --data-parallel-start-rank without an LB flag is hybrid; abbreviations and = forms read the same.
	r, _, err := role(t, "vllm", "0.34.0", hybrid("2", "4"), nil)
	if err != nil || r.layout.Mode != "dp-hybrid" || r.pod.Index != 1 || r.ports[0].port != 9000 {
		t.Fatalf("inferred hybrid: %+v %v", r, err)
	}
	if !strings.Contains(string(r.ports[0].metrics), `engine="3"`) || strings.Contains(string(r.ports[0].metrics), `engine="0"`) {
		t.Fatal("pod 1 of the hybrid group must carry engines 2 and 3 only")
	}
	// A layout that was not recorded is refused, not invented.
	if _, _, err := role(t, "vllm", "0.34.0", hybrid("4", "8"), nil); err == nil || !strings.Contains(err.Error(), "--data-parallel-size") {
		t.Fatalf("dp 8: %v", err)
	}
	// --nnodes N --node-rank R --data-parallel-hybrid-lb (src/engines/vllm.ts' hybrid mode, one template for every pod):
	// arg_utils.py infers the start rank R × data-local when N = data / data-local, so it is the recorded layout.
	nn := func(rank string, nnodes string, extra ...string) []string {
		return append([]string{"vllm", "serve", "m", "--port", "8000", "--data-parallel-size", "4", "--data-parallel-size-local", "2",
			"--enable-expert-parallel", "--nnodes", nnodes, "--node-rank", rank, "--data-parallel-address", "leader", "--data-parallel-hybrid-lb"}, extra...)
	}
	for _, rank := range []string{"0", "1"} {
		r, warnings, err := role(t, "vllm", "0.34.0", nn(rank, "2"), map[string]string{"LWS_WORKER_INDEX": rank})
		if err != nil || len(warnings) != 0 || r.layout.Mode != "dp-hybrid" || fmt.Sprint(r.pod.Index) != rank {
			t.Fatalf("hybrid with --nnodes 2 --node-rank %s: %+v %v %v", rank, r, warnings, err)
		}
	}
	// With 4 nodes a data-parallel rank would span two pods (nnodes_within_dp 2): not the recording.
	if _, _, err := role(t, "vllm", "0.34.0", nn("1", "4"), nil); err == nil || !strings.Contains(err.Error(), "--nnodes") {
		t.Fatalf("--nnodes 4: %v", err)
	}
	// The LWS index only warns when the command line says otherwise (the engine follows its command line).
	_, warnings, err := role(t, "vllm", "0.34.0", hybrid("0", "4"), map[string]string{"LWS_WORKER_INDEX": "1"})
	if err != nil || len(warnings) != 1 {
		t.Fatalf("index mismatch: %v %v", warnings, err)
	}
	// Multi-port: one API server per local rank on --port + i, the supervisor on its own port (default from the catalog).
	r, _, err = role(t, "vllm", "0.34.0", hybrid("2", "4", "--data-parallel-multi-port-external-lb"), nil)
	if err != nil || r.layout.Mode != "dp-multi-port" || len(r.ports) != 3 || r.ports[0].port != 9000 || r.ports[1].port != 9001 || r.ports[2].port != 9256 || r.ports[2].metrics != nil {
		t.Fatalf("multi-port: %+v %v", r, err)
	}
	// vLLM's mp worker: --headless, no HTTP server at all.
	r, _, err = role(t, "vllm", "0.34.0", []string{"vllm", "serve", "m", "--tensor-parallel-size", "2", "--nnodes", "2", "--node-rank", "1",
		"--master-addr", "leader", "--headless"}, nil)
	if err != nil || r.pod.Index != 1 || len(r.ports) != 0 {
		t.Fatalf("headless: %+v %v", r, err)
	}
	// Ray leader: nothing on the vllm command line says multi-node; the LWS group size does.
	ray := []string{"vllm", "serve", "m", "--tensor-parallel-size", "2", "--distributed-executor-backend", "ray"}
	if r, _, err := role(t, "vllm", "0.34.0", ray, nil); err != nil || r != nil {
		t.Fatalf("single-node ray: %+v %v", r, err)
	}
	r, _, err = role(t, "vllm", "0.34.0", ray, map[string]string{"LWS_GROUP_SIZE": "2", "LWS_WORKER_INDEX": "0"})
	if err != nil || r.layout.Mode != "ray" || len(r.ports) != 1 || r.ports[0].port != 8000 {
		t.Fatalf("ray leader: %+v %v", r, err)
	}
	if _, _, err := role(t, "vllm", "0.34.0", ray, map[string]string{"LWS_GROUP_SIZE": "2", "LWS_WORKER_INDEX": "1"}); err == nil {
		t.Fatal("vllm serve in the Ray worker pod must be refused: that pod runs `ray start`")
	}
	// SGLang: --tp/--dp are argparse abbreviations of --tp-size/--dp-size; --attn-dp-size is the new spelling.
	sg := func(extra ...string) []string {
		return append([]string{"python3", "-m", "sglang.launch_server", "--model-path", "m", "--tp-size", "4", "--nnodes", "2", "--node-rank", "1",
			"--dist-init-addr", "leader:20000", "--enable-metrics"}, extra...)
	}
	r, _, err = role(t, "sglang", "0.5.23", sg("--enable-dp-attention", "--dp-size=2"), nil)
	if err != nil || r.layout.Mode != "dp-attention" || r.pod.Index != 1 || r.ports[0].spec.Server != "sglang-dummy-health" {
		t.Fatalf("sglang dp-attention: %+v %v", r, err)
	}
	if _, _, err := role(t, "sglang", "0.5.23", sg("--attn-dp-size", "2"), nil); err == nil {
		t.Fatal("--attn-dp-size 2 (dp_size 1 on the command line) is not the recorded `--enable-dp-attention --dp 2` command line")
	}
	// LMDeploy: with --proxy-url and no --server-port the engine picks random ports (find_available_ports).
	r, _, err = role(t, "lmdeploy", "0.18.0", []string{"lmdeploy", "serve", "api_server", "m", "--backend", "pytorch", "--dp", "4", "--ep", "4",
		"--nnodes", "2", "--node-rank", "1", "--proxy-url", "http://leader:8000"}, nil)
	if err != nil || len(r.ports) != 2 || r.ports[0].port < 3000 || r.ports[0].port == r.ports[1].port {
		t.Fatalf("lmdeploy random ports: %+v %v", r, err)
	}
	if !strings.Contains(string(r.ports[1].metrics), `engine="3"`) {
		t.Fatal("lmdeploy pod 1's second server is dp rank 3")
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

func TestEachServerOfThePodServesItsRoutes(t *testing.T) {
	// vLLM multi-port: API servers have no /ready (the supervisor's), the supervisor has no /metrics.
	argv := []string{"vllm", "serve", "m", "--data-parallel-size", "4", "--data-parallel-size-local", "2", "--data-parallel-start-rank", "0",
		"--data-parallel-multi-port-external-lb", "--data-parallel-supervisor-port", "8208"}
	r, _, err := role(t, "vllm", "0.34.0", argv, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := roleHandlers(r, catalogOf(t, "vllm", "0.34.0"), argv[2:])
	if code, body := get(t, h[1], "/metrics"); code != 200 || !strings.Contains(body, `vllm:num_requests_running{engine="1"`) {
		t.Fatalf("rank 1 /metrics: %d", code)
	}
	if code, _ := get(t, h[0], "/health"); code != 200 {
		t.Fatal("API server /health")
	}
	if code, _ := get(t, h[0], "/ready"); code != 404 {
		t.Fatal("the API server must not serve the supervisor's /ready")
	}
	for _, p := range []string{"/health", "/ready", "/readyz"} {
		if code, _ := get(t, h[2], p); code != 200 {
			t.Fatalf("supervisor %s: %d", p, code)
		}
	}
	if code, _ := get(t, h[2], "/metrics"); code != 404 {
		t.Fatal("the supervisor serves no /metrics")
	}
	// SGLang node 1: the dummy health server: /health always 200, /metrics = node 1's schedulers, no API.
	sg := []string{"python3", "-m", "sglang.launch_server", "--model-path", "m", "--tp", "4", "--nnodes", "2", "--node-rank", "1",
		"--dist-init-addr", "leader:20000", "--enable-metrics"}
	r, _, err = role(t, "sglang", "0.5.23", sg, nil)
	if err != nil {
		t.Fatal(err)
	}
	h = roleHandlers(r, catalogOf(t, "sglang", "0.5.23"), sg[3:])
	for _, p := range []string{"/health", "/health_generate", "/ping"} {
		if code, _ := get(t, h[0], p); code != 200 {
			t.Fatalf("dummy %s: %d", p, code)
		}
	}
	if code, _ := get(t, h[0], "/v1/models"); code != 404 {
		t.Fatal("node 1 has no API server")
	}
	code, body := get(t, h[0], "/metrics")
	if code != 200 || !strings.Contains(body, `tp_rank="2"`) || strings.Contains(body, "sglang:time_to_first_token_seconds") || strings.Contains(body, "sglang:num_running_reqs{") {
		t.Fatalf("node 1 /metrics (plain TP): %d; want tp ranks 2-3, no tokenizer series, no gauges of a non-logging rank", code)
	}
}

func post(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", path, nil))
	return rec.Code, rec.Body.String()
}

func TestAddMovesACounterOnAndNothingElse(t *testing.T) {
	sg := []string{"python3", "-m", "sglang.launch_server", "--model-path", "m", "--tp", "4", "--nnodes", "2", "--node-rank", "0",
		"--dist-init-addr", "leader:20000", "--enable-metrics"}
	r, _, err := role(t, "sglang", "0.5.23", sg, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := roleHandlers(r, catalogOf(t, "sglang", "0.5.23"), sg[3:])
	const tokens = `sglang:generation_tokens_total{engine_type="unified",is_streaming="true",model_name="deepseek-ai/DeepSeek-V2-Lite"} `
	if _, body := get(t, h[0], "/metrics"); !strings.Contains(body, tokens+"2100.0\n") {
		t.Fatal("the recording's token counter is 2100")
	}
	if code, body := post(t, h[0], "/standin/add?metric=sglang:generation_tokens_total&by=50"); code != 200 || body != "1\n" {
		t.Fatalf("add: %d %q", code, body)
	}
	_, body := get(t, h[0], "/metrics")
	if !strings.Contains(body, tokens+"2150\n") || !strings.Contains(body, `sglang:num_running_reqs{engine_type="unified",model_name="deepseek-ai/DeepSeek-V2-Lite",moe_ep_rank="0",pp_rank="0",tp_rank="0"} 7.0`) {
		t.Fatal("the counter moved by 50 and the gauge stayed")
	}
	// The histogram of the same name prefix is another series: untouched.
	if !strings.Contains(body, `sglang:generation_tokens_histogram_sum{engine_type="unified",model_name="deepseek-ai/DeepSeek-V2-Lite"} 2100.0`) {
		t.Fatal("a series whose name only starts like the counter's changed")
	}
	for _, bad := range []string{"metric=sglang:num_running_reqs&by=1", "metric=sglang:generation_tokens_total&by=-1", "metric=nope_total&by=1", "metric=sglang:generation_tokens_total&by=x"} {
		if code, _ := post(t, h[0], "/standin/add?"+bad); code != 400 {
			t.Fatalf("%s: %d, want 400", bad, code)
		}
	}
	if code, _ := get(t, h[0], "/standin/add?metric=sglang:generation_tokens_total&by=1"); code != 405 {
		t.Fatal("GET must not change a counter")
	}
}

func TestValueAtSkipsQuotedBraces(t *testing.T) {
	line := `x_total{a="}} {\"q\"",b="c d"} 7 1700000000000`
	s, e, ok := valueAt(line, "x_total")
	if !ok || line[s:e] != "7" {
		t.Fatalf("value %q", line[s:e])
	}
	if _, _, ok := valueAt(`x_total_more{a="b"} 1`, "x_total"); ok {
		t.Fatal("another name sharing the prefix")
	}
}
