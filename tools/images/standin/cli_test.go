package main

// The cases where the re-implemented parsers once disagreed with the real ones (the probes of
// tools/engine-cli/probes.py, recorded in each catalog's provenance.selfCheck), on small programs.
// The full differential check is test/component/engine-command-lines.test.ts over the recorded catalogs.

import (
	"encoding/json"
	"strings"
	"testing"
)

func testProgram(t *testing.T, src string) *program {
	t.Helper()
	var p program
	if err := json.Unmarshal([]byte(src), &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

var argparseProgram = `{"argv": ["x"], "parser": "argparse", "allowAbbrev": true, "exitCode": 2,
  "errorFormat": "{prog}: error: {message}", "prog": "x", "positionals": [], "options": [
  {"flags": ["--host"], "dest": "host", "nargs": 1, "type": "str", "action": "store"},
  {"flags": ["--port"], "dest": "port", "nargs": 1, "type": "int", "action": "store"},
  {"flags": ["--load-in-8bit"], "dest": "l8", "nargs": 0, "action": "storetrue"},
  {"flags": ["--load-in-4bit"], "dest": "l4", "nargs": 0, "action": "storetrue"},
  {"flags": ["--trust_remote_code", "--trust-remote-code"], "dest": "trc", "nargs": "?", "type": "string_to_bool", "action": "store"}]}`

var clapProgram = `{"argv": ["x"], "parser": "clap", "exitCode": 2, "errorFormat": "error: {message}", "prog": "x",
  "positionals": [], "options": [
  {"flags": ["-p", "--port"], "dest": "port", "nargs": 1, "type": "int", "rustType": "u16", "action": "store"},
  {"flags": ["--num-shard"], "dest": "num_shard", "nargs": 1, "type": "int", "rustType": "usize", "action": "store"},
  {"flags": ["--cuda-graphs"], "dest": "cuda_graphs", "nargs": 1, "type": "int", "rustType": "usize", "action": "append"},
  {"flags": ["--hostname"], "dest": "hostname", "nargs": 1, "type": "str", "rustType": "String", "action": "store"},
  {"flags": ["-e", "--env"], "dest": "env", "nargs": 0, "action": "store_true"}]}`

func TestParsersAgreeWithTheRealOnes(t *testing.T) {
	cases := []struct {
		program  string
		args     string
		accepted bool
		message  string // a part of the error
	}{
		// argparse (Python 3.11): a dash word with a space is a value, not an option.
		{argparseProgram, "--host|--x y", true, ""},
		{argparseProgram, "--host|--port", false, "expected one argument"},
		{argparseProgram, "--port|-1", true, ""},
		// "--" is dropped only when a positional takes it; with none it is an unrecognized argument.
		{argparseProgram, "--", false, "unrecognized arguments: --"},
		{argparseProgram, "--|w", false, "unrecognized arguments: -- w"},
		// HfArgumentParser's string_to_bool.
		{argparseProgram, "--trust-remote-code|Yes", true, ""},
		{argparseProgram, "--trust-remote-code|maybe", false, "Truthy value expected: got maybe"},
		// ambiguous prefixes are listed in declaration order, and two spellings of one option are ambiguous too.
		{argparseProgram, "--load-in", false, "could match --load-in-8bit, --load-in-4bit"},
		{argparseProgram, "--trust", false, "could match --trust_remote_code, --trust-remote-code"},
		// clap: the Rust type's range, "+" but no "-" sign, and an empty value.
		{clapProgram, "--port|70000", false, "70000 is not in 0..=65535"},
		{clapProgram, "--port=-1", false, "-1 is not in 0..=65535"},
		{clapProgram, "--port|+5", true, ""},
		{clapProgram, "--port=", false, "cannot parse integer from empty string"},
		{clapProgram, "--num-shard=-1", false, "invalid digit found in string"},
		{clapProgram, "--num-shard|18446744073709551615", true, ""},
		{clapProgram, "--num-shard|18446744073709551616", false, "number too large"},
		// a dash word after an option is an argument of its own.
		{clapProgram, "--port|-1", false, "unexpected argument '-1' found"},
		{clapProgram, "--hostname|--env", false, "a value is required for '--hostname <HOSTNAME>'"},
		// an argument that is set may be given once; appended ones repeat.
		{clapProgram, "--port|1|--port|2", false, "the argument '--port <PORT>' cannot be used multiple times"},
		{clapProgram, "--env|--env", false, "the argument '--env' cannot be used multiple times"},
		{clapProgram, "--cuda-graphs|1|--cuda-graphs|2", true, ""},
		// a cluster of short flags, the last one taking the rest as its value.
		{clapProgram, "-ep8001", true, ""},
		{clapProgram, "-e=1", false, "unexpected value '1' for '-e'"},
	}
	for _, c := range cases {
		p := testProgram(t, c.program)
		_, err := p.parse(strings.Split(c.args, "|"), func(string) (string, bool) { return "", false })
		if (err == nil) != c.accepted {
			t.Errorf("%s %q: accepted %v, want %v (%v)", p.Parser, c.args, err == nil, c.accepted, err)
			continue
		}
		if err != nil && (!strings.Contains(err.message, c.message) || err.exitCode != 2) {
			t.Errorf("%s %q: exit %d %q, want exit 2 with %q", p.Parser, c.args, err.exitCode, err.message, c.message)
		}
	}
}

func TestRoutesOfAnotherProcessAreNotServed(t *testing.T) {
	supervisor := route{Path: "/ready", OnlyWith: []string{"--data-parallel-multi-port-external-lb"}}
	if supervisor.servedBy([]string{"serve", "m", "--port", "1"}) {
		t.Fatal("the data-parallel supervisor's /ready served without its flag")
	}
	if !supervisor.servedBy([]string{"serve", "m", "--data-parallel-multi-port-external-lb"}) {
		t.Fatal("the supervisor's /ready not served with its flag")
	}
	if (route{Path: "/x", Process: "dp-supervisor"}).servedBy(nil) {
		t.Fatal("another process's route served")
	}
	if !(route{Path: "/health"}).servedBy(nil) {
		t.Fatal("a plain route not served")
	}
}
