package api

import (
	"strings"
	"testing"

	"uptime/internal/errs"
)

func TestDecodeRefusesWhatJSONWouldRewrite(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string // want: "" to accept, else a part of the message
	}{
		{"plain", `{"url": "http://a.example/", "name": "Shop"}`, ""},
		{"non-ASCII", `{"url": "http://a.example/", "name": "Café ☕ 日本"}`, ""},
		{"escaped pair", `{"url": "http://a.example/", "name": "\ud83d\ude00"}`, ""},
		{"escaped BMP", `{"url": "http://a.example/", "name": "\u00e9\u2603"}`, ""},
		{"escaped backslash then u", `{"url": "http://a.example/", "name": "\\ud800"}`, ""},
		{"same key in two objects", `{"url": "http://a.example/", "headers": {"url": "x"}}`, ""},
		{"same key in array items", `{"sites": [{"url": "a"}, {"url": "b"}]}`, ""},
		{"bad byte", "{\"url\": \"http://127.0.0.1/ok?u=\xff\xfe\"}", "not valid UTF-8: byte 0xff at offset 31"},
		{"bad byte in a key", "{\"u\xffrl\": \"x\"}", "offset 3"},
		{"truncated sequence", "{\"name\": \"caf\xc3\"}", "offset 13"},
		{"overlong encoding", "{\"name\": \"\xc0\xaf\"}", "byte 0xc0 at offset 10"},
		{"encoded surrogate", "{\"name\": \"\xed\xa0\x80\"}", "offset 10"},
		{"lone high surrogate", `{"name": "\ud800"}`, `unpaired surrogate \ud800 at offset 10`},
		{"lone low surrogate", `{"name": "a\udc00b"}`, `\udc00 at offset 11`},
		{"high then no low", `{"name": "\ud800\u0041"}`, `\ud800`},
		{"high at the end", `{"name": "x\uD83D"}`, `\uD83D at offset 11`},
		{"surrogate in a key", `{"\ud800": 1}`, "unpaired surrogate"},
		{"duplicate key", `{"url": "a", "url": "b"}`, `names the field "url" twice (at offset 13)`},
		{"duplicate after escape", `{"url": "a", "\u0075rl": "b"}`, `"url" twice`},
		{"duplicate nested", `{"headers": {"X-A": "1", "X-A": "2"}}`, `"X-A" twice`},
		{"duplicate in an array item", `{"sites": [{"url": "a"}, {"url": "b", "name": "x", "url": "c"}]}`, `"url" twice`},
		{"duplicate after an object value", `{"a": {"b": 1}, "a": 2}`, `"a" twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeBytes[map[string]any]([]byte(tc.body))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q, want one with %q", err, tc.want)
			case tc.want != "" && !errs.Is(err, errs.InvalidArgument):
				t.Fatalf("error %v is not invalid_argument", err)
			}
		})
	}
}
