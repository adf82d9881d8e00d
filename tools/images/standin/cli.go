package main

// The engines' command-line parsers, re-implemented over the catalogs recorded from their own code
// (tools/engine-cli, test/fixtures/engine-cli/<engine>-<version>.json): argparse (vLLM, SGLang,
// LMDeploy, transformers 4.x), click (transformers 5.x, through typer) and clap (TGI's launcher).
// Only what decides whether a command line is accepted is modelled: option names (exact, or a unique
// prefix where argparse allows abbreviations), how many values each takes, int/float/bool values,
// choices, positionals, required arguments. A refused command line gives the engine's message and
// exit status, so a pod fails the way the real engine's would.

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

type catalog struct {
	Engine   string             `json:"engine"`
	Version  string             `json:"version"`
	Programs map[string]program `json:"programs"`
	Routes   []route            `json:"routes"`
}

type route struct {
	Path    string   `json:"path"`
	Methods []string `json:"methods"`
	Note    string   `json:"note"`
	// OnlyWith: options one of which must be given for the route to be served; Process: served by
	// another process than the program's server (vLLM's data-parallel supervisor).
	OnlyWith []string `json:"onlyWith"`
	Process  string   `json:"process"`
}

// servedBy: whether the program's server, started with args, serves the route.
func (r route) servedBy(args []string) bool {
	if r.Process != "" {
		return false
	}
	if len(r.OnlyWith) == 0 {
		return true
	}
	for _, a := range args {
		for _, f := range r.OnlyWith {
			if a == f || strings.HasPrefix(a, f+"=") {
				return true
			}
		}
	}
	return false
}

type program struct {
	Argv        []string     `json:"argv"`
	Parser      string       `json:"parser"`
	AllowAbbrev bool         `json:"allowAbbrev"`
	Underscores bool         `json:"underscoresAsDashes"`
	ExitCode    int          `json:"exitCode"`
	ErrorFormat string       `json:"errorFormat"`
	Prog        string       `json:"prog"`
	Options     []option     `json:"options"`
	Positionals []positional `json:"positionals"`
}

type option struct {
	Flags    []string        `json:"flags"`
	Dest     string          `json:"dest"`
	Nargs    json.RawMessage `json:"nargs"`
	Type     *string         `json:"type"`
	Choices  []string        `json:"choices"`
	Required bool            `json:"required"`
	Env      *string         `json:"env"`
	Action   string          `json:"action"`
	RustType *string         `json:"rustType"` // clap: the Rust type of the value (u16, usize, ...), for its range
	Default  json.RawMessage `json:"default"`
}

type positional struct {
	Dest     string          `json:"dest"`
	Nargs    json.RawMessage `json:"nargs"`
	Type     *string         `json:"type"`
	Choices  []string        `json:"choices"`
	Required bool            `json:"required"`
}

// arity: min and max number of values (max -1: unbounded); optional: '?'.
type arity struct{ min, max int }

func parseNargs(raw json.RawMessage) arity {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return arity{n, n}
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	switch s {
	case "?":
		return arity{0, 1}
	case "*", "...":
		return arity{0, -1}
	case "+":
		return arity{1, -1}
	}
	return arity{1, 1}
}

func loadCatalog(path string) (*catalog, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c catalog
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &c, nil
}

// programFor finds the program whose argv the command line starts with (after the executable's name).
func (c *catalog) programFor(argv []string) (*program, []string, bool) {
	best := -1
	var found *program
	for name := range c.Programs {
		p := c.Programs[name]
		if len(p.Argv) > len(argv) || len(p.Argv) <= best {
			continue
		}
		match := true
		for i, w := range p.Argv {
			if i == 0 {
				continue // the executable: a path or a symlink name
			}
			if argv[i] != w {
				match = false
				break
			}
		}
		if match {
			best, found = len(p.Argv), &p
		}
	}
	if found == nil {
		return nil, nil, false
	}
	return found, argv[best:], true
}

// usageError is a refused command line: what the engine prints and the status it exits with.
type usageError struct {
	message  string
	exitCode int
}

func (e *usageError) Error() string { return e.message }

func (p *program) fail(format string, a ...any) *usageError {
	msg := fmt.Sprintf(format, a...)
	out := strings.ReplaceAll(strings.ReplaceAll(p.ErrorFormat, "{prog}", p.Prog), "{message}", msg)
	code := p.ExitCode
	if code == 0 {
		code = 2
	}
	return &usageError{message: out, exitCode: code}
}

var negativeNumber = regexp.MustCompile(`^-\d+$|^-\d*\.\d+$`)

func (p *program) looksLikeOption(tok string) bool {
	if !strings.HasPrefix(tok, "-") || tok == "-" {
		return false
	}
	if p.Parser == "argparse" {
		// argparse (_parse_optional): a known option or a prefix of one is an option; otherwise a negative
		// number (the parsers here have no options that look like one) or a word with a space is a value.
		name, _, _ := strings.Cut(tok, "=")
		for _, n := range []string{tok, name} {
			if o, ambiguous := p.lookup(n); o != nil || ambiguous != nil {
				return true
			}
		}
		return !negativeNumber.MatchString(tok) && !strings.Contains(tok, " ")
	}
	return true
}

func (p *program) lookup(name string) (*option, []string) {
	if p.Underscores && strings.HasPrefix(name, "--") {
		name = "--" + strings.ReplaceAll(name[2:], "_", "-")
	}
	for i := range p.Options {
		for _, f := range p.Options[i].Flags {
			if f == name {
				return &p.Options[i], nil
			}
		}
	}
	if p.Parser == "argparse" && p.AllowAbbrev && strings.HasPrefix(name, "--") {
		var hits []string
		var hit *option
		for i := range p.Options {
			for _, f := range p.Options[i].Flags {
				if strings.HasPrefix(f, "--") && strings.HasPrefix(f, name) {
					hits = append(hits, f)
					hit = &p.Options[i]
				}
			}
		}
		if len(hits) == 1 {
			return hit, nil
		}
		if len(hits) > 1 {
			return nil, hits
		}
	}
	return nil, nil
}

func (p *program) display(o *option) string {
	if p.Parser == "argparse" {
		return strings.Join(o.Flags, "/")
	}
	long := o.Flags[len(o.Flags)-1]
	for _, f := range o.Flags {
		if strings.HasPrefix(f, "--") {
			long = f
			break
		}
	}
	if p.Parser == "clap" && parseNargs(o.Nargs).max != 0 {
		return fmt.Sprintf("%s <%s>", long, strings.ToUpper(o.Dest))
	}
	return long
}

var pyInt = regexp.MustCompile(`^\s*[+-]?\d(_?\d)*\s*$`)
var rustInt = regexp.MustCompile(`^[+-]?\d+$`)

// rustIntError: why clap's value parser for the Rust integer type refuses v ("" when it takes it). u8..u32 and
// i8..i64 parse an i64 and check the type's range; u64 and usize parse the digits (a '+' but no '-').
func rustIntError(rust, v string) string {
	if v == "" {
		return "cannot parse integer from empty string"
	}
	if !rustInt.MatchString(v) {
		return "invalid digit found in string"
	}
	bits := map[string]int{"u8": 8, "u16": 16, "u32": 32, "u64": 64, "usize": 64, "i8": 8, "i16": 16, "i32": 32, "i64": 64, "isize": 64}[rust]
	if bits == 64 && rust[0] == 'u' {
		if _, err := strconv.ParseUint(strings.TrimPrefix(v, "+"), 10, 64); err != nil {
			if strings.HasPrefix(v, "-") {
				return "invalid digit found in string"
			}
			return "number too large to fit in target type"
		}
		return ""
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return "number too large to fit in target type"
	}
	if bits == 0 || bits == 64 {
		return ""
	}
	lo, hi := -(int64(1) << (bits - 1)), int64(1)<<(bits-1)-1
	if rust[0] == 'u' {
		lo, hi = 0, int64(1)<<bits-1
	}
	if n < lo || n > hi {
		return fmt.Sprintf("%d is not in %d..=%d", n, lo, hi)
	}
	return ""
}

// checkValue applies the option's type (rust: clap's Rust type, or nil) and choices the way the engine's parser does.
func (p *program) checkValue(what string, typ, rust *string, choices []string, v string) *usageError {
	t := "str"
	if typ != nil {
		t = *typ
	}
	switch t {
	case "int":
		// Python's int() (argparse, click): optional sign, underscores between digits, surrounding spaces;
		// clap: the Rust type's parser and range.
		if p.Parser == "clap" {
			r := ""
			if rust != nil {
				r = *rust
			}
			if why := rustIntError(r, v); why != "" {
				return p.fail("invalid value '%s' for '%s': %s", v, what, why)
			}
		} else if !pyInt.MatchString(v) {
			if p.Parser == "argparse" {
				return p.fail("argument %s: invalid int value: '%s'", what, v)
			}
			return p.fail("Invalid value for '%s': '%s' is not a valid integer.", what, v)
		}
	case "string_to_bool":
		// transformers' HfArgumentParser bool fields (hf_argparser.string_to_bool).
		switch strings.ToLower(v) {
		case "yes", "true", "t", "y", "1", "no", "false", "f", "n", "0":
		default:
			return p.fail("argument %s: Truthy value expected: got %s but expected one of yes/no, true/false, t/f, y/n, 1/0 (case insensitive).", what, v)
		}
	case "float":
		s := strings.TrimSpace(strings.ReplaceAll(v, "_", ""))
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			low := strings.ToLower(s)
			if !(low == "inf" || low == "+inf" || low == "-inf" || low == "nan" || low == "infinity" || low == "-infinity") {
				switch p.Parser {
				case "argparse":
					return p.fail("argument %s: invalid float value: '%s'", what, v)
				case "click":
					return p.fail("Invalid value for '%s': '%s' is not a valid float.", what, v)
				default:
					return p.fail("invalid value '%s' for '%s': invalid float literal", v, what)
				}
			}
		}
	case "bool":
		if p.Parser != "argparse" {
			low := strings.ToLower(v)
			valid := map[string]bool{"true": true, "false": true, "1": true, "0": true, "yes": true, "no": true, "on": true, "off": true, "t": true, "f": true, "y": true, "n": true}
			if p.Parser == "clap" {
				valid = map[string]bool{"true": true, "false": true}
			}
			if !valid[low] {
				if p.Parser == "click" {
					return p.fail("Invalid value for '%s': '%s' is not a valid boolean.", what, v)
				}
				return p.fail("invalid value '%s' for '%s'\n  [possible values: true, false]", v, what)
			}
		}
	}
	if choices != nil {
		for _, c := range choices {
			if c == v {
				return nil
			}
		}
		switch p.Parser {
		case "argparse":
			quoted := make([]string, len(choices))
			for i, c := range choices {
				quoted[i] = "'" + c + "'"
			}
			return p.fail("argument %s: invalid choice: '%s' (choose from %s)", what, v, strings.Join(quoted, ", "))
		case "click":
			quoted := make([]string, len(choices))
			for i, c := range choices {
				quoted[i] = "'" + c + "'"
			}
			return p.fail("Invalid value for '%s': '%s' is not one of %s.", what, v, strings.Join(quoted, ", "))
		default:
			return p.fail("invalid value '%s' for '%s'\n  [possible values: %s]", v, what, strings.Join(choices, ", "))
		}
	}
	return nil
}

// parse checks args (the words after the program's argv) and returns the values given per option dest.
func (p *program) parse(args []string, env func(string) (string, bool)) (map[string][]string, *usageError) {
	args = append([]string(nil), args...) // a cluster of short flags (-ep8001) is taken apart in place
	values := map[string][]string{}
	seen := map[string]bool{}
	var free []string
	var unknown []string
	onlyPositional := false
	for i := 0; i < len(args); i++ {
		tok := args[i]
		if onlyPositional || !p.looksLikeOption(tok) {
			free = append(free, tok)
			continue
		}
		if tok == "--" {
			onlyPositional = true
			// argparse (Python 3.11) drops the "--" only when a positional takes the words around it.
			if p.Parser == "argparse" && len(p.Positionals) == 0 {
				free = append(free, tok)
			}
			continue
		}
		name, inline, hasInline := tok, "", false
		if strings.HasPrefix(tok, "--") {
			if eq := strings.Index(tok, "="); eq > 0 {
				name, inline, hasInline = tok[:eq], tok[eq+1:], true
			}
		} else if len(tok) > 2 {
			// -xVALUE (and clap's -x=VALUE)
			name, inline, hasInline = tok[:2], strings.TrimPrefix(tok[2:], "="), true
			if p.Parser == "argparse" {
				if eq := strings.Index(tok, "="); eq > 0 {
					if o, _ := p.lookup(tok[:eq]); o != nil {
						name, inline = tok[:eq], tok[eq+1:]
					}
				}
			}
		}
		o, ambiguous := p.lookup(name)
		if ambiguous != nil {
			return nil, p.fail("ambiguous option: %s could match %s", name, strings.Join(ambiguous, ", "))
		}
		if o == nil {
			switch p.Parser {
			case "argparse":
				unknown = append(unknown, tok)
				continue // argparse reports every unrecognized word at the end
			case "click":
				return nil, p.fail("No such option '%s'.", name)
			default:
				return nil, p.fail("unexpected argument '%s' found", name)
			}
		}
		a := parseNargs(o.Nargs)
		what := p.display(o)
		// clap: an argument that is set (not appended or counted) may be given once.
		if p.Parser == "clap" && seen[o.Dest] && o.Action != "append" && o.Action != "count" {
			return nil, p.fail("the argument '%s' cannot be used multiple times", what)
		}
		seen[o.Dest] = true
		if a.max == 0 {
			if hasInline && !strings.HasPrefix(tok, "--") && tok[2] != '=' {
				// -xyz: the flag -x, then -yz (argparse, click and clap all read clusters of short flags).
				values[o.Dest] = append(values[o.Dest], name)
				args[i] = "-" + tok[2:]
				i--
				continue
			}
			if hasInline {
				switch p.Parser {
				case "argparse":
					return nil, p.fail("argument %s: ignored explicit argument '%s'", what, inline)
				case "click":
					return nil, p.fail("Option '%s' does not take a value.", name)
				default:
					return nil, p.fail("unexpected value '%s' for '%s' found; no more were expected", inline, name)
				}
			}
			// A flag's value is the spelling given (--x or --no-x), so a reader can tell which one came last.
			values[o.Dest] = append(values[o.Dest], name)
			continue
		}
		var got []string
		if hasInline {
			got = append(got, inline)
		} else {
			for (a.max < 0 || len(got) < a.max) && i+1 < len(args) {
				next := args[i+1]
				// click takes the next word as an option's value even when it starts with a dash.
				if p.looksLikeOption(next) && !(p.Parser == "click" && len(got) < a.min) {
					break
				}
				got = append(got, next)
				i++
			}
		}
		if len(got) < a.min {
			switch p.Parser {
			case "argparse":
				if a.min == 1 && a.max == 1 {
					return nil, p.fail("argument %s: expected one argument", what)
				}
				if a.max < 0 {
					return nil, p.fail("argument %s: expected at least one argument", what)
				}
				return nil, p.fail("argument %s: expected %d arguments", what, a.min)
			case "click":
				return nil, p.fail("Option '%s' requires an argument.", name)
			default:
				// clap: the dash word after the option is parsed as an argument of its own.
				if i+1 < len(args) {
					next, _, _ := strings.Cut(args[i+1], "=")
					if !strings.HasPrefix(next, "--") {
						next = next[:2]
					}
					if o, _ := p.lookup(next); o == nil {
						return nil, p.fail("unexpected argument '%s' found", next)
					}
				}
				return nil, p.fail("a value is required for '%s' but none was supplied", what)
			}
		}
		for _, v := range got {
			if err := p.checkValue(what, o.Type, o.RustType, o.Choices, v); err != nil {
				return nil, err
			}
		}
		values[o.Dest] = append(values[o.Dest], got...)
	}
	// Positionals, in order.
	var missing []string
	for _, pos := range p.Positionals {
		a := parseNargs(pos.Nargs)
		take := 0
		switch {
		case a.max < 0:
			take = len(free)
		case len(free) >= a.max:
			take = a.max
		default:
			take = len(free)
		}
		if take < a.min {
			missing = append(missing, pos.Dest)
			continue
		}
		for _, v := range free[:take] {
			what := pos.Dest
			if p.Parser == "click" {
				what = strings.ToUpper(pos.Dest)
			}
			if err := p.checkValue(what, pos.Type, nil, pos.Choices, v); err != nil {
				return nil, err
			}
		}
		values[pos.Dest] = append(values[pos.Dest], free[:take]...)
		free = free[take:]
	}
	if p.Parser != "argparse" && len(missing) > 0 {
		if p.Parser == "click" {
			return nil, p.fail("Missing argument '%s'.", strings.ToUpper(missing[0]))
		}
		return nil, p.fail("the following required arguments were not provided:\n  <%s>", strings.ToUpper(missing[0]))
	}
	for _, o := range p.Options {
		if !o.Required || seen[o.Dest] {
			continue
		}
		if o.Env != nil {
			if _, ok := env(*o.Env); ok {
				continue
			}
		}
		missing = append(missing, p.display(&o))
	}
	if len(missing) > 0 {
		if p.Parser == "click" {
			return nil, p.fail("Missing option '%s'.", missing[0])
		}
		if p.Parser == "clap" {
			return nil, p.fail("the following required arguments were not provided:\n  %s", strings.Join(missing, "\n  "))
		}
		return nil, p.fail("the following arguments are required: %s", strings.Join(missing, ", "))
	}
	unknown = append(unknown, free...)
	if len(unknown) > 0 {
		switch p.Parser {
		case "argparse":
			return nil, p.fail("unrecognized arguments: %s", strings.Join(unknown, " "))
		case "click":
			return nil, p.fail("Got unexpected extra argument%s (%s)", map[bool]string{true: "s", false: ""}[len(unknown) > 1], strings.Join(unknown, " "))
		default:
			return nil, p.fail("unexpected argument '%s' found", unknown[0])
		}
	}
	return values, nil
}

// hasRoute: whether the release serves path (routes recorded from its source).
func (c *catalog) hasRoute(path string) bool {
	for _, r := range c.Routes {
		if r.Path == path {
			return true
		}
	}
	return false
}
