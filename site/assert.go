package site

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/theory/jsonpath"
	"golang.org/x/net/http/httpguts"

	"uptime/internal/errs"
	"uptime/internal/text"
)

// Assertion is a condition an http or https check's answer must meet:
// Source names what of the answer (json: a JSONPath of RFC 9535 into the
// body; header: a header's value; status; latency; body), Op how it is
// compared with Value.
type Assertion struct {
	Source string `json:"source"`
	Path   string `json:"path,omitempty"`
	Op     string `json:"op"`
	// Value is a string, a number or true or false; none for exists and
	// !exists.
	Value any `json:"value,omitempty"`
}

// The ops of assertions, and the sources.
var (
	AssertOps     = []string{"==", "!=", "<", "<=", ">", ">=", "contains", "!contains", "matches", "exists", "!exists"}
	AssertSources = []string{"json", "header", "status", "latency", "body"}
	// opsOf are the ops each source takes.
	opsOf = map[string][]string{
		"json":    AssertOps,
		"header":  AssertOps,
		"status":  {"==", "!=", "<", "<=", ">", ">="},
		"latency": {"<", "<=", ">", ">="},
		"body":    {"==", "!=", "contains", "!contains", "matches"},
	}
)

// maxAssertions is how many a site may have.
const maxAssertions = 20

// IsOrder tells whether an op compares numbers.
func IsOrder(op string) bool { return op == "<" || op == "<=" || op == ">" || op == ">=" }

// checkAssertions checks each assertion, naming the one at fault and its
// field: assertions[1].path.
func checkAssertions(list []Assertion) error {
	if len(list) > maxAssertions {
		return errs.Errorf(errs.InvalidArgument, "assertions must be at most %d, got %d", maxAssertions, len(list))
	}
	for i := range list {
		a := &list[i]
		field := func(name, format string, args ...any) error {
			return errs.Errorf(errs.InvalidArgument, "assertions[%d].%s: %s", i, name, fmt.Sprintf(format, args...))
		}
		if !slices.Contains(AssertSources, a.Source) {
			return field("source", "must be one of %s, got %s", strings.Join(AssertSources, ", "), text.Quote(a.Source))
		}
		if !slices.Contains(opsOf[a.Source], a.Op) {
			return field("op", "a %s assertion's op is one of %s, got %s", a.Source, strings.Join(opsOf[a.Source], ", "), text.Quote(a.Op))
		}
		switch a.Source {
		case "json":
			if len(a.Path) > maxKeyword {
				return field("path", "must be at most %d bytes, got %d", maxKeyword, len(a.Path))
			}
			if _, err := jsonpath.Parse(a.Path); err != nil {
				return field("path", "%s is not a JSONPath (RFC 9535): %s", text.Quote(a.Path), text.Clip(err.Error()))
			}
		case "header":
			if !httpguts.ValidHeaderFieldName(a.Path) {
				return field("path", "%s is not a header's name", text.Quote(a.Path))
			}
		default:
			if a.Path != "" {
				return field("path", "a %s assertion has no path", a.Source)
			}
		}
		if a.Op == "exists" || a.Op == "!exists" {
			if a.Value != nil {
				return field("value", "%s takes no value", a.Op)
			}
			continue
		}
		switch v := a.Value.(type) {
		case nil:
			return field("value", "%s needs a value", a.Op)
		case string:
			if len(v) > maxKeyword {
				return field("value", "must be at most %d bytes", maxKeyword)
			}
		case float64, bool:
		default:
			return field("value", "must be a string, a number, true or false")
		}
		switch {
		case a.Op == "matches":
			s, ok := a.Value.(string)
			if !ok {
				return field("value", "matches takes a regular expression, as a string")
			}
			if _, err := regexp.Compile(s); err != nil {
				return field("value", "%s is not a regular expression (RE2): %s", text.Quote(s), text.Clip(err.Error()))
			}
		case a.Source == "latency":
			s, _ := a.Value.(string)
			if d, err := time.ParseDuration(s); err != nil || d <= 0 {
				return field("value", "a latency is a duration, like \"800ms\"")
			}
		case a.Source == "status" || IsOrder(a.Op):
			if _, ok := AssertNumber(a.Value); !ok {
				return field("value", "%s compares numbers: give a number", a.Op)
			}
		}
	}
	return nil
}

// AssertNumber is a value as a number, when it is one or a string of one.
func AssertNumber(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}
