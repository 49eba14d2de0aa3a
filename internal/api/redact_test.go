package api

import "testing"

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://encore.dev/x", "https://encore.dev/x"},
		{"https://user:s3cret@example.com/health", "https://user:xxxxx@example.com/health"},
		{"/ping/http://a:b@127.0.0.1:8080/", "/ping/http://a:xxxxx@127.0.0.1:8080/"},
		{`{"url":"https://u:p%40ss@h/"} and http://x:y@z`, `{"url":"https://u:xxxxx@h/"} and http://x:xxxxx@z`},
		{"https://user@example.com/", "https://user@example.com/"},
		{"mailto:someone@example.com", "mailto:someone@example.com"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
