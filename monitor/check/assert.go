package check

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/theory/jsonpath"

	"uptime/internal/text"
	"uptime/site"
)

// assertion is a site.Assertion ready to judge answers with.
type assertion struct {
	site.Assertion
	path    *jsonpath.Path
	re      *regexp.Regexp
	latency time.Duration
}

// compile readies the assertions; those that no longer parse (settings are
// checked when they are stored) are left out.
func compile(list []site.Assertion) []assertion {
	out := make([]assertion, 0, len(list))
	for _, a := range list {
		c := assertion{Assertion: a}
		var err error
		switch {
		case a.Source == "json":
			c.path, err = jsonpath.Parse(a.Path)
		case a.Source == "latency":
			s, _ := a.Value.(string)
			c.latency, err = time.ParseDuration(s)
		}
		if err == nil && a.Op == "matches" {
			s, _ := a.Value.(string)
			c.re, err = regexp.Compile(s)
		}
		if err == nil {
			out = append(out, c)
		}
	}
	return out
}

// answer is what assertions are judged on.
type answer struct {
	status  int
	header  http.Header
	body    []byte
	latency time.Duration
	// doc is the body as JSON, read once when an assertion asks.
	doc    any
	docErr error
	read   bool
}

func (ans *answer) json() (any, error) {
	if !ans.read {
		ans.read = true
		ans.docErr = json.Unmarshal(ans.body, &ans.doc)
	}
	return ans.doc, ans.docErr
}

// failed returns why the first assertion that does not hold fails, or ""
// when all hold: `json $.status == "ok": got "degraded"`.
func failed(list []assertion, ans *answer) string {
	for _, a := range list {
		if why := a.judge(ans); why != "" {
			what := a.Source
			if a.Path != "" {
				what += " " + a.Path
			}
			what += " " + a.Op
			if a.Value != nil {
				what += " " + show(a.Value)
			}
			return what + ": " + why
		}
	}
	return ""
}

// judge returns why the assertion does not hold of the answer, or "".
func (a assertion) judge(ans *answer) string {
	var (
		got   any
		found = true
	)
	switch a.Source {
	case "status":
		got = float64(ans.status)
	case "latency":
		if holds(a.Op, compare(float64(ans.latency), float64(a.latency))) {
			return ""
		}
		return "took " + ans.latency.Round(time.Millisecond).String()
	case "body":
		got = string(ans.body)
	case "header":
		values, ok := ans.header[http.CanonicalHeaderKey(a.Path)]
		found = ok
		if ok {
			got = strings.Join(values, ", ")
		}
	case "json":
		doc, err := ans.json()
		if err != nil {
			return "the body is not JSON"
		}
		nodes := a.path.Select(doc)
		found = len(nodes) > 0
		if found {
			got = nodes[0]
		}
	}
	switch {
	case a.Op == "exists" && found, a.Op == "!exists" && !found:
		return ""
	case a.Op == "exists":
		return "nothing there"
	case a.Op == "!exists":
		return "got " + show(got)
	case !found:
		return "nothing there"
	}
	ok := false
	switch a.Op {
	case "contains", "!contains":
		ok = strings.Contains(asText(got), asText(a.Value)) == (a.Op == "contains")
	case "matches":
		ok = a.re.MatchString(asText(got))
	case "==", "!=":
		ok = equal(got, a.Value) == (a.Op == "==")
	default:
		g, gok := site.AssertNumber(got)
		w, _ := site.AssertNumber(a.Value)
		ok = gok && holds(a.Op, compare(g, w))
	}
	if ok {
		return ""
	}
	if a.Source == "body" {
		return "got " + strconv.Quote(text.Cut(asText(got), 100))
	}
	return "got " + show(got)
}

// equal compares a value found with the one asserted: as numbers when both
// are, as text otherwise.
func equal(got, want any) bool {
	if g, ok := site.AssertNumber(got); ok {
		if w, ok := site.AssertNumber(want); ok {
			return g == w
		}
	}
	return asText(got) == asText(want)
}

func compare(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func holds(op string, c int) bool {
	switch op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

// asText is a value as text: a string as it is, anything else as JSON.
func asText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// show is a value as a reason shows it: as JSON, shortened.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return text.Cut(string(b), 100)
}
