package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"

	"uptime/internal/errs"
	"uptime/internal/text"
)

// checkText refuses a request body that encoding/json would silently
// rewrite or reduce: bytes that are not UTF-8 and escaped lone surrogates
// (both become U+FFFD), and an object that names a field twice (the last
// one wins). Each is an invalid_argument error naming the byte offset.
// Malformed JSON is left to the decoder, which says where.
func checkText(body []byte) error {
	if !utf8.Valid(body) {
		at := invalidUTF8(body)
		return errs.Errorf(errs.InvalidArgument, "request body is not valid UTF-8: byte 0x%02x at offset %d", body[at], at)
	}
	if at, esc := loneSurrogate(body); at >= 0 {
		return errs.Errorf(errs.InvalidArgument, "request body holds an unpaired surrogate %s at offset %d; text must be valid Unicode", esc, at)
	}
	return duplicateField(body)
}

// invalidUTF8 returns the offset of b's first byte that is not UTF-8.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// loneSurrogate returns the offset and text of the first \u escape in a
// JSON string of b that is half of a surrogate pair without its other
// half, or -1.
func loneSurrogate(b []byte) (int, string) {
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case !inString:
			inString = c == '"'
		case c == '"':
			inString = false
		case c == '\\' && i+1 < len(b) && b[i+1] == 'u':
			hi, ok := hex4(b, i+2)
			switch {
			case !ok:
				return -1, "" // malformed: the decoder says where
			case hi >= 0xDC00 && hi <= 0xDFFF:
				return i, string(b[i : i+6])
			case hi >= 0xD800 && hi <= 0xDBFF:
				lo, ok := -1, i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u'
				if ok {
					lo, ok = hex4(b, i+8)
				}
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return i, string(b[i : i+6])
				}
				i += 11
			default:
				i += 5
			}
		case c == '\\':
			i++ // the escaped character
		}
	}
	return -1, ""
}

// hex4 reads four hex digits of b at i.
func hex4(b []byte, i int) (int, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[i:i+4]), 16, 16)
	return int(v), err == nil
}

// duplicateField returns an error naming the first field that an object
// in the JSON text b has twice, as the names decode (so "a" and "\u0061"
// are the same field).
func duplicateField(b []byte) error {
	type object struct {
		keys      map[string]bool
		expectKey bool
	}
	var stack []*object
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		at := dec.InputOffset()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) || err != nil {
			return nil // malformed JSON is the decoder's to explain
		}
		var top *object
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if top != nil && top.expectKey {
			key, _ := tok.(string)
			if top.keys[key] {
				return errs.Errorf(errs.InvalidArgument, "request body names the field %s twice (at offset %d); give each field once", text.Quote(key), keyOffset(b, at))
			}
			top.keys[key] = true
			top.expectKey = false
			continue
		}
		if top != nil && top.keys != nil {
			top.expectKey = true // after this value, the next key
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &object{keys: map[string]bool{}, expectKey: true})
		case json.Delim('['):
			stack = append(stack, &object{})
		}
		if len(stack) == 0 {
			return nil // one value: trailing data is the decoder's to refuse
		}
	}
}

// keyOffset skips what separates a token read from at (a comma,
// whitespace) to where the key itself starts.
func keyOffset(b []byte, at int64) int64 {
	for int(at) < len(b) && bytes.IndexByte([]byte(", \t\r\n"), b[at]) >= 0 {
		at++
	}
	return at
}
