package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// exposition is one port's recorded /metrics body. The recording is a frozen moment of the engine: its gauges say
// requests are running while its counters never move, which is what a hung engine looks like. POST
// /standin/add?metric=NAME&by=X moves a counter on (tokens being generated), so a test can show both a group that
// generates and one that does not. Only counters, only up: the stand-in refuses what the engine could not do.
type exposition struct {
	mu   sync.Mutex
	body []byte
}

func (e *exposition) get() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.body
}

// counterType reports whether the body declares name a counter (`# TYPE name counter`, also under its name without
// `_total`, as prometheus_client writes it in the text format).
func counterType(body []byte, name string) bool {
	for _, n := range []string{name, strings.TrimSuffix(name, "_total")} {
		if bytes.Contains(body, []byte("\n# TYPE "+n+" counter\n")) || bytes.HasPrefix(body, []byte("# TYPE "+n+" counter\n")) {
			return true
		}
	}
	return false
}

// valueAt returns where a sample line's value starts and ends, past its name and label set (label values may hold
// spaces, braces and escaped quotes).
func valueAt(line string, name string) (int, int, bool) {
	i := len(name)
	if !strings.HasPrefix(line, name) || i >= len(line) {
		return 0, 0, false
	}
	if line[i] == '{' {
		inQuote := false
		for i++; i < len(line); i++ {
			c := line[i]
			if inQuote && c == '\\' {
				i++
			} else if c == '"' {
				inQuote = !inQuote
			} else if c == '}' && !inQuote {
				break
			}
		}
		if i >= len(line) {
			return 0, 0, false
		}
		i++
	}
	if i >= len(line) || line[i] != ' ' {
		return 0, 0, false
	}
	start := i + 1
	end := strings.IndexByte(line[start:], ' ')
	if end < 0 {
		end = len(line)
	} else {
		end += start
	}
	return start, end, true
}

// add adds by to every sample of the counter name; it returns how many samples changed.
func (e *exposition) add(name string, by float64) (int, error) {
	if by < 0 {
		return 0, fmt.Errorf("a counter only goes up (by=%g)", by)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !counterType(e.body, name) {
		return 0, fmt.Errorf("%s is not a counter of this port's /metrics", name)
	}
	lines := strings.Split(string(e.body), "\n")
	n := 0
	for k, line := range lines {
		start, end, ok := valueAt(line, name)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(line[start:end], 64)
		if err != nil {
			return 0, fmt.Errorf("sample %q: %v", line, err)
		}
		lines[k] = line[:start] + strconv.FormatFloat(v+by, 'f', -1, 64) + line[end:]
		n++
	}
	e.body = []byte(strings.Join(lines, "\n"))
	return n, nil
}

// addHandler serves POST /standin/add?metric=NAME&by=X on a port with a /metrics body.
func addHandler(e *exposition) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		by, err := strconv.ParseFloat(r.URL.Query().Get("by"), 64)
		if err != nil {
			http.Error(w, "by: "+err.Error(), http.StatusBadRequest)
			return
		}
		n, err := e.add(r.URL.Query().Get("metric"), by)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d\n", n)
	}
}
