package site

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/text"
)

// fields is a JSON object, each field kept as it was written until it is
// decoded on its own, so that an error can name its field and PATCH can
// tell a field left out from one set to null.
type fields map[string]json.RawMessage

// readFields reads a request body that must be one JSON object.
func readFields(body []byte) (fields, error) {
	f, err := api.DecodeBytes[fields](body)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, errs.Errorf(errs.InvalidArgument, "request body must be a JSON object, not null")
	}
	return f, nil
}

// settingNames are the JSON names of Settings' fields, in their order.
var settingNames = func() []string {
	t := reflect.TypeFor[Settings]()
	names := make([]string, t.NumField())
	for i := range names {
		names[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return names
}()

// settings decodes the fields that are settings into a Settings, naming
// the field in any error. A field set to null is left out. Fields that
// are neither settings nor one of also are refused.
func (f fields) settings(also ...string) (Settings, error) {
	var st Settings
	v := reflect.ValueOf(&st).Elem()
	for i, name := range settingNames {
		raw, ok := f[name]
		if !ok || string(raw) == "null" {
			continue
		}
		if err := json.Unmarshal(raw, v.Field(i).Addr().Interface()); err != nil {
			return st, fieldError(name, v.Field(i).Type(), err)
		}
	}
	var unknown []string
	for name := range f {
		if !slices.Contains(settingNames, name) && !slices.Contains(also, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return st, errs.Errorf(errs.InvalidArgument, "unknown field %s", text.Quote(unknown[0]))
	}
	return st, nil
}

// fieldError explains why a field's value could not be decoded.
func fieldError(name string, t reflect.Type, err error) error {
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) {
		return errs.Errorf(errs.InvalidArgument, "%s %s", name, text.Clip(err.Error()))
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	kind := ""
	if typeErr.Value != "" {
		kind = ", not " + typeErr.Value
	}
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
		return errs.Errorf(errs.InvalidArgument, "%s must be a list of objects%s", name, kind)
	}
	want := map[reflect.Kind]string{
		reflect.String: "a string",
		reflect.Bool:   "true or false",
		reflect.Int:    "a whole number",
		reflect.Slice:  "a list of strings",
		reflect.Map:    `an object of strings, {"name": "value"}`,
	}[t.Kind()]
	return errs.Errorf(errs.InvalidArgument, "%s must be %s%s", name, want, kind)
}

// jsonKind names the kind of a JSON value by its first byte.
func jsonKind(v []byte) string {
	if len(v) == 0 {
		return "empty"
	}
	switch v[0] {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	case '{':
		return "object"
	}
	return "number"
}

// str decodes a string field; ok is false when it is absent or null.
func (f fields) str(name string) (s string, ok bool, err error) {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, errs.Errorf(errs.InvalidArgument, "%s must be a string, not %s", name, jsonKind(raw))
	}
	return s, true, nil
}

// toFields turns settings back into fields, the ones given only.
func (st Settings) toFields() fields {
	b, err := json.Marshal(st)
	if err != nil {
		panic(err) // Settings always marshal
	}
	var f fields
	if err := json.Unmarshal(b, &f); err != nil {
		panic(err)
	}
	return f
}
