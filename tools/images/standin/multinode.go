package main

// Multi-node roles. A LeaderWorkerSet group runs one stand-in per pod; each must serve what that pod of the real
// engine serves, in that pod's exact role. The recordings hold, per engine release and multi-node mode, a layout.json
// (test/fixtures/engines/<engine>-<version>/multinode/<mode>/, written by tools/engine-metrics/record.py --multinode
// from the release's own launch and metric code) listing the pods, the ports each serves, which of them carry /metrics
// (with the recorded .prom of that pod and port) and which serve only health.
//
// The stand-in finds its mode and pod index from its command line, as the engine does (vLLM: the load-balancing
// flags, --data-parallel-start-rank / --data-parallel-size-local, --nnodes/--node-rank, --headless,
// --distributed-executor-backend ray; SGLang and LMDeploy: --nnodes/--node-rank); LWS_WORKER_INDEX is used where the
// engine's command line does not carry the pod (the vLLM Ray leader; `ray start` workers) and otherwise only checked.
// The parallel layout of the command line (sizes, executor, load balancing) must be the recorded one: the stand-in
// refuses to invent a layout it has no recording of.

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// recordingsDir holds <engine>-<version>/multinode/<mode>/ (the image copies test/fixtures/engines/*/multinode there).
const recordingsDir = "/samples/engines"

type mnLayout struct {
	Engine    string         `json:"engine"`
	Version   string         `json:"version"`
	Mode      string         `json:"mode"`
	GroupSize int            `json:"groupSize"`
	Params    map[string]any `json:"params"`
	Pods      []mnPod        `json:"pods"`
	dir       string
}

type mnPod struct {
	Index           int          `json:"index"`
	Role            string       `json:"role"`
	Program         string       `json:"program"`
	Argv            []string     `json:"argv"`
	HTTPServer      bool         `json:"httpServer"`
	MetricsPorts    []mnPortSpec `json:"metricsPorts"`
	HealthOnlyPorts []mnPortSpec `json:"healthOnlyPorts"`
	Note            string       `json:"note"`
}

type mnPortSpec struct {
	Port     int    `json:"port"`
	PortFlag string `json:"portFlag"`
	Offset   int    `json:"offset"`
	// PortDefault: the port when PortFlag is not given, where the engine's default is not the option's (LMDeploy: 23333).
	PortDefault int `json:"portDefault"`
	// RandomWith: with this option and without PortFlag, the engine picks random free ports (LMDeploy with --proxy-url).
	RandomWith string `json:"randomWith"`
	// Server: "api" (the engine's API server: the catalog's routes), "sglang-dummy-health", "dp-supervisor".
	Server          string              `json:"server"`
	File            string              `json:"file"`
	Paths           []string            `json:"paths"`
	MetricsOnlyWith string              `json:"metricsOnlyWith"`
	Labels          map[string][]string `json:"labels"`
}

// mnRole: the pod a stand-in plays and what it listens on.
type mnRole struct {
	layout *mnLayout
	pod    *mnPod
	ports  []mnPort
}

type mnPort struct {
	port    int
	spec    mnPortSpec
	metrics []byte // nil: no /metrics on this port
}

// cmdline: a command line as the engine's parser read it (values per dest) with the parser, for option lookups.
type cmdline struct {
	prog   *program
	values map[string][]string
}

func (c cmdline) dest(flag string) string {
	if c.prog == nil {
		return ""
	}
	o, _ := c.prog.lookup(flag)
	if o == nil {
		return ""
	}
	return o.Dest
}

func (c cmdline) option(flag string) *option {
	if c.prog == nil {
		return nil
	}
	o, _ := c.prog.lookup(flag)
	return o
}

// str: the option's last value, or its recorded default; "" when neither.
func (c cmdline) str(flag string) (string, bool) {
	o := c.option(flag)
	if o == nil {
		return "", false
	}
	if v := c.values[o.Dest]; len(v) > 0 {
		return v[len(v)-1], true
	}
	if len(o.Default) > 0 && string(o.Default) != "null" {
		var s any
		if json.Unmarshal(o.Default, &s) == nil {
			switch x := s.(type) {
			case string:
				return x, false
			case float64:
				return strconv.Itoa(int(x)), false
			case bool:
				return strconv.FormatBool(x), false
			}
		}
	}
	return "", false
}

func (c cmdline) given(flag string) bool {
	o := c.option(flag)
	return o != nil && len(c.values[o.Dest]) > 0
}

// num: the option's integer value (given or default), def when it has none.
func (c cmdline) num(flag string, def int) int {
	s, _ := c.str(flag)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.ReplaceAll(s, "_", "")))
	if err != nil {
		return def
	}
	return n
}

// on: a flag option (store_true, --x/--no-x) is set: its last spelling given is not a negation.
func (c cmdline) on(flag string) bool {
	o := c.option(flag)
	if o == nil {
		return false
	}
	v := c.values[o.Dest]
	if len(v) == 0 {
		if len(o.Default) > 0 {
			return string(o.Default) == "true"
		}
		return false
	}
	last := v[len(v)-1]
	return !strings.HasPrefix(last, "--no-") && !strings.HasPrefix(last, "--disable-")
}

// mnSelection: the mode and pod a command line asks for (mode "" = not a multi-node command line).
type mnSelection struct {
	mode string
	pod  int
	// fromEnv: the pod index came from LWS_WORKER_INDEX (the command line does not carry it).
	fromEnv bool
}

func workerIndex(env func(string) (string, bool)) (int, bool) {
	v, ok := env("LWS_WORKER_INDEX")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, false
	}
	return n, true
}

// selectRole reads the mode and pod index off the command line, as the engine's launch code does.
func selectRole(engine string, c cmdline, env func(string) (string, bool)) (mnSelection, error) {
	switch engine {
	case "vllm":
		multiPort := c.on("--data-parallel-multi-port-external-lb")
		// serve.py: without an LB flag, --data-parallel-start-rank means hybrid.
		hybrid := c.on("--data-parallel-hybrid-lb") || (!multiPort && c.given("--data-parallel-start-rank"))
		local := c.num("--data-parallel-size-local", 0)
		nnodes := c.num("--nnodes", 1)
		start := func() int {
			if c.given("--data-parallel-start-rank") {
				return c.num("--data-parallel-start-rank", 0)
			}
			// dp_supervisor.infer_multi_port_external_lb_start_rank / arg_utils' inferred rank.
			return c.num("--node-rank", 0) * local
		}
		switch {
		case multiPort || (hybrid && !c.on("--headless")):
			mode := "dp-hybrid"
			if multiPort {
				mode = "dp-multi-port"
			}
			if local <= 0 {
				return mnSelection{}, fmt.Errorf("%s without --data-parallel-size-local", mode)
			}
			s := start()
			if s%local != 0 {
				return mnSelection{}, fmt.Errorf("--data-parallel-start-rank %d is not a multiple of --data-parallel-size-local %d: no pod of the recording starts there", s, local)
			}
			return mnSelection{mode: mode, pod: s / local}, nil
		case nnodes > 1:
			return mnSelection{mode: "mp", pod: c.num("--node-rank", 0)}, nil
		case strings.EqualFold(firstOr(c, "--distributed-executor-backend"), "ray"):
			if size, ok := env("LWS_GROUP_SIZE"); ok && size != "1" {
				i, _ := workerIndex(env)
				return mnSelection{mode: "ray", pod: i, fromEnv: true}, nil
			}
		}
	case "sglang":
		if c.num("--nnodes", 1) > 1 {
			mode := "tp"
			if c.on("--enable-dp-attention") || c.num("--attn-dp-size", 1) > 1 {
				mode = "dp-attention"
			}
			return mnSelection{mode: mode, pod: c.num("--node-rank", 0)}, nil
		}
	case "lmdeploy":
		if c.num("--nnodes", 1) > 1 {
			return mnSelection{mode: "dp", pod: c.num("--node-rank", 0)}, nil
		}
	}
	return mnSelection{}, nil
}

func firstOr(c cmdline, flag string) string {
	s, _ := c.str(flag)
	return s
}

// layoutDefining: the options whose values make the recorded layout; a command line must give the recorded pod's
// values (by the parser's reading: abbreviations, = forms and defaults count the same).
var layoutDefining = map[string][]string{
	"vllm": {"--tensor-parallel-size", "--pipeline-parallel-size", "--data-parallel-size", "--data-parallel-size-local", "--nnodes",
		"--distributed-executor-backend", "--api-server-count", "--headless", "--data-parallel-multi-port-external-lb"},
	"sglang":   {"--tp-size", "--pp-size", "--dp-size", "--attn-dp-size", "--enable-dp-attention", "--nnodes", "--enable-metrics"},
	"lmdeploy": {"--tp", "--dp", "--ep", "--nnodes", "--backend"},
}

func loadLayout(root, engine, version, mode string) (*mnLayout, error) {
	dir := filepath.Join(root, fmt.Sprintf("%s-%s", engine, version), "multinode", mode)
	b, err := os.ReadFile(filepath.Join(dir, "layout.json"))
	if err != nil {
		return nil, fmt.Errorf("no multi-node recording of %s %s in mode %s (%v)", engine, version, mode, err)
	}
	var l mnLayout
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("%s: %v", dir, err)
	}
	l.dir = dir
	return &l, nil
}

func (l *mnLayout) podAt(i int) (*mnPod, error) {
	for k := range l.Pods {
		if l.Pods[k].Index == i {
			return &l.Pods[k], nil
		}
	}
	return nil, fmt.Errorf("the recording of %s %s mode %s has pods 0..%d, not %d", l.Engine, l.Version, l.Mode, len(l.Pods)-1, i)
}

// matches: the command line has the recorded pod's layout-defining values.
func (l *mnLayout) matches(engine string, pod *mnPod, c cmdline, parse func([]string) (cmdline, error)) error {
	if pod.Program == "ray start" {
		return nil
	}
	rec, err := parse(pod.Argv)
	if err != nil {
		return fmt.Errorf("the recorded command line of pod %d does not parse: %v", pod.Index, err)
	}
	for _, flag := range layoutDefining[engine] {
		o := c.option(flag)
		if o == nil {
			continue
		}
		var got, want string
		if parseNargs(o.Nargs).max == 0 {
			got, want = strconv.FormatBool(c.on(flag)), strconv.FormatBool(rec.on(flag))
		} else {
			got, _ = c.str(flag)
			want, _ = rec.str(flag)
		}
		if got != want && engine == "vllm" && flag == "--nnodes" && l.Mode == "dp-hybrid" && hybridNodesAreDPGroups(c) {
			// vllm/engine/arg_utils.py (0.34.0) create_engine_config: with --nnodes N > 1 and --data-parallel-size-local
			// L, data_parallel_rank is inferred as node_rank × (world_size / N) / (tp × pp × pcp) = node_rank × L when
			// N = data / L (config/parallel.py nnodes_within_dp = 1: no DP rank spans pods), i.e. the recorded pod's
			// --data-parallel-start-rank; serve.py keeps hybrid LB (--data-parallel-hybrid-lb) and api_server_count = L.
			// The same pods serving the same engines: the recorded layout.
			continue
		}
		if got != want {
			return fmt.Errorf("%s %s: %s is %q here but %q in the recording of mode %s (pod %d); the stand-in serves recorded layouts only",
				engine, l.Version, flag, got, want, l.Mode, pod.Index)
		}
	}
	return nil
}

// hybridNodesAreDPGroups: a vLLM hybrid-LB command line with --nnodes N > 1 where every node is one data-parallel node
// group (N = data / data-local, tensor × pipeline within a pod): arg_utils.py infers the start rank node_rank × local.
func hybridNodesAreDPGroups(c cmdline) bool {
	nnodes, data, local := c.num("--nnodes", 1), c.num("--data-parallel-size", 1), c.num("--data-parallel-size-local", 0)
	return nnodes > 1 && local > 0 && data%local == 0 && nnodes == data/local && c.on("--data-parallel-hybrid-lb") && !c.on("--headless")
}

// resolveRole: the layout, pod and ports (from this command line's port options) of a multi-node command line;
// nil when the command line is not a multi-node one.
func resolveRole(root, engine, version string, c cmdline, env func(string) (string, bool), parse func([]string) (cmdline, error)) (*mnRole, []string, error) {
	sel, err := selectRole(engine, c, env)
	if err != nil || sel.mode == "" {
		return nil, nil, err
	}
	var warnings []string
	if i, ok := workerIndex(env); ok && !sel.fromEnv && i != sel.pod {
		warnings = append(warnings, fmt.Sprintf("the command line makes this pod %d of the group, LWS_WORKER_INDEX says %d: following the command line, as the engine does", sel.pod, i))
	}
	l, err := loadLayout(root, engine, version, sel.mode)
	if err != nil {
		return nil, warnings, err
	}
	pod, err := l.podAt(sel.pod)
	if err != nil {
		// A pod beyond the recording: say first what differs in the layout, if anything.
		if merr := l.matches(engine, &l.Pods[0], c, parse); merr != nil {
			return nil, warnings, merr
		}
		return nil, warnings, err
	}
	if pod.Program == "ray start" {
		return nil, warnings, fmt.Errorf("pod %d of the %s recording runs `ray start`, not %s", pod.Index, sel.mode, engine)
	}
	if err := l.matches(engine, pod, c, parse); err != nil {
		return nil, warnings, err
	}
	role := &mnRole{layout: l, pod: pod}
	for _, group := range [][]mnPortSpec{pod.MetricsPorts, pod.HealthOnlyPorts} {
		for _, spec := range group {
			port, err := resolvePort(spec, c)
			if err != nil {
				return nil, warnings, err
			}
			p := mnPort{port: port, spec: spec}
			if spec.File != "" && (spec.MetricsOnlyWith == "" || c.on(spec.MetricsOnlyWith)) {
				b, err := os.ReadFile(filepath.Join(l.dir, spec.File))
				if err != nil {
					return nil, warnings, err
				}
				p.metrics = b
			}
			role.ports = append(role.ports, p)
		}
	}
	if err := pickRandomPorts(role, c); err != nil {
		return nil, warnings, err
	}
	return role, warnings, nil
}

// resolvePort: the port of spec for this command line: its flag's value (or the option's default, or the engine's)
// plus the spec's offset; -1 when the engine picks it at random (filled in by pickRandomPorts).
func resolvePort(spec mnPortSpec, c cmdline) (int, error) {
	if spec.RandomWith != "" && !c.given(spec.PortFlag) && c.given(spec.RandomWith) {
		return -1, nil
	}
	base := c.num(spec.PortFlag, -1)
	if base < 0 {
		base = spec.PortDefault
	}
	if base <= 0 {
		return 0, fmt.Errorf("no port for %s (no %s and no default)", spec.Server, spec.PortFlag)
	}
	return base + spec.Offset, nil
}

// pickRandomPorts: LMDeploy's find_available_ports (launch_server.py): from 3000 up in random steps of 10..500,
// the first free ports.
func pickRandomPorts(role *mnRole, c cmdline) error {
	next := 3000
	for i := range role.ports {
		if role.ports[i].port != -1 {
			continue
		}
		for {
			next += 10 + rand.Intn(491)
			if next > 65535 {
				return fmt.Errorf("no free port found")
			}
			if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", next)); err == nil {
				ln.Close()
				break
			}
		}
		role.ports[i].port = next
	}
	return nil
}

// rayWorker: `ray start --address=<leader>:6379 --block` in a vLLM Ray group's worker pod. Ray's CLI has no recorded
// catalog, so only its shape is checked; the real worker runs vLLM's Ray worker actors, which serve no /metrics
// (Ray's own metrics agent is out of scope): the stand-in listens on nothing and stays up.
func rayWorker(args []string, env func(string) (string, bool)) (*mnPod, error) {
	if len(args) == 0 || args[0] != "start" {
		return nil, fmt.Errorf("ray: only `ray start` is stood in for, got %q", args)
	}
	address, block := false, false
	for _, a := range args[1:] {
		switch {
		case strings.HasPrefix(a, "--address=") || a == "--address":
			address = true
		case a == "--block":
			block = true
		case a == "--head" || strings.HasPrefix(a, "--head="):
			return nil, fmt.Errorf("ray start --head: the Ray head runs in the leader pod before `vllm serve`; the stand-in image has no shell to chain them, run `vllm serve` there")
		}
	}
	if !address || !block {
		return nil, fmt.Errorf("ray start needs --address=<leader>:6379 and --block to stay up as a worker pod's process")
	}
	version := os.Getenv("STANDIN_ENGINE_VERSION")
	if version == "" {
		version = defaultVersion("vllm")
	}
	root := recordingsRoot()
	l, err := loadLayout(root, "vllm", version, "ray")
	if err != nil {
		return nil, err
	}
	i, _ := workerIndex(env)
	pod, err := l.podAt(i)
	if err != nil {
		return nil, err
	}
	if pod.Program != "ray start" {
		return nil, fmt.Errorf("pod %d of the vLLM ray recording runs %q, not `ray start`", i, pod.Program)
	}
	return pod, nil
}

func recordingsRoot() string {
	if r := os.Getenv("STANDIN_RECORDINGS"); r != "" {
		return r
	}
	return recordingsDir
}
