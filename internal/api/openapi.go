package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"uptime/internal/errs"
)

// Doc describes an endpoint for the OpenAPI document: it is given where
// the endpoint is registered, beside its handler, and the types are the
// ones the handler decodes and answers.
type Doc struct {
	// Summary says what the endpoint does, in a line.
	Summary string
	// Query lists the query parameters.
	Query []Param
	// Request is a value of the type of the JSON body; nil without one.
	Request any
	// Response is a value of the type of the JSON answer, or an AnyOf of
	// them; nil for an empty body.
	Response any
	// ContentType is the answer's type when it is not JSON (an image, a
	// page, text); its body is then not described.
	ContentType string
	// Role is what the caller must be: zero means Viewer for a read and
	// Editor for a change.
	Role Role
}

// AnyOf is a Response that is one of several types, as the request asks
// (anyOf, not oneOf: a larger answer may also match a smaller type).
type AnyOf []any

// Param is a query parameter.
type Param struct {
	Name, Description string
	// Type is "string", "integer" or "boolean".
	Type string
}

// route is an endpoint as registered, with its documentation.
type route struct {
	method, path string
	doc          *Doc
	role         Role
}

var patternParam = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`)

// addRoute records a registered pattern ("GET /site/{siteID}") for the
// OpenAPI document.
func (s *Server) addRoute(pattern string, docs []Doc) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	path = strings.TrimSuffix(path, "{$}")
	var d *Doc
	if len(docs) > 0 {
		d = &docs[0]
	}
	if s.roles == nil {
		s.roles = map[string]Role{}
	}
	role := roleOf(strings.Split(method, ",")[0], d)
	s.roles[pattern] = role
	s.routes = append(s.routes, route{method: method, path: path, doc: d, role: role})
}

// methodsOf is what a pattern's method stands for: GET also answers HEAD;
// no method, every one.
func methodsOf(method string) []string {
	if method == "" {
		return []string{http.MethodGet}
	}
	return strings.Split(method, ",")
}

// OpenAPI returns the OpenAPI 3.1 document of every route, with Encore's
// error shape as every error's schema. A route registered without a Doc is
// marked x-undocumented.
func (s *Server) OpenAPI(title, version string) map[string]any {
	g := &schemaGen{defs: map[string]any{}}
	g.schemaOf(reflect.TypeOf(errs.Error{})) // components/schemas/Error
	paths, used := map[string]any{}, map[string]bool{}
	for _, r := range s.routes {
		item, _ := paths[r.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[r.path] = item
		}
		for _, m := range methodsOf(r.method) {
			op := g.operation(r, m)
			// Two spellings of one endpoint (/slack.Notify, /slack.notify)
			// need two ids.
			id := op["operationId"].(string)
			for n := 2; used[id]; n++ {
				id = fmt.Sprintf("%s%d", op["operationId"], n)
			}
			used[id], op["operationId"] = true, id
			item[strings.ToLower(m)] = op
		}
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]any{"title": title, "version": version},
		"paths":   paths,
		"components": map[string]any{
			"schemas": g.defs,
			"securitySchemes": map[string]any{
				"key": map[string]any{"type": "http", "scheme": "bearer",
					"description": "A token (upt_...) or the server's API key (--api-key). " +
						"x-required-role says the role each operation needs: viewer, editor or admin (public needs none). " +
						"While reads are open, a read needs none; with no user and no API key, nothing does."},
			},
			"responses": map[string]any{
				"Error": map[string]any{
					"description": "An error, in Encore's shape: code, message, details.",
					"content":     map[string]any{"application/json": map[string]any{"schema": ref("Error")}},
				},
			},
		},
	}
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func (g *schemaGen) operation(r route, method string) map[string]any {
	d := r.doc
	if d == nil {
		// Shown, so that a route registered without its Doc is seen (a
		// test fails on it) rather than silently left out.
		d = &Doc{}
	}
	op := map[string]any{
		"summary":     d.Summary,
		"operationId": operationID(method, r.path),
	}
	var params []any
	for _, m := range patternParam.FindAllStringSubmatch(r.path, -1) {
		schema := map[string]any{"type": "string"}
		if strings.HasSuffix(m[1], "ID") {
			schema = map[string]any{"type": "integer", "minimum": 1}
		}
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": schema})
	}
	for _, q := range d.Query {
		params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Description,
			"schema": map[string]any{"type": q.Type}})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if d.Request != nil {
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/json": map[string]any{"schema": g.schemaOf(reflect.TypeOf(d.Request))}}}
	}
	ok := map[string]any{"description": "OK"}
	switch {
	case d.ContentType != "":
		ok["content"] = map[string]any{d.ContentType: map[string]any{}}
	case d.Response != nil:
		schema := map[string]any{}
		if alts, ok := d.Response.(AnyOf); ok {
			var of []any
			for _, a := range alts {
				of = append(of, g.schemaOf(reflect.TypeOf(a)))
			}
			schema["anyOf"] = of
		} else {
			schema = g.schemaOf(reflect.TypeOf(d.Response))
		}
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": schema}}
	}
	op["responses"] = map[string]any{"200": ok, "default": map[string]any{"$ref": "#/components/responses/Error"}}
	// The role the server asks for: the same rule.
	op["x-required-role"] = r.role.String()
	if r.role > Public {
		op["security"] = []any{map[string]any{"key": []any{}}}
	}
	if r.doc == nil {
		op["x-undocumented"] = true
	}
	return op
}

// operationID spells a route as one identifier: GET /site/{siteID} is
// getSiteSiteID.
func operationID(method, path string) string {
	id := strings.ToLower(method)
	for _, w := range regexp.MustCompile(`[A-Za-z0-9]+`).FindAllString(path, -1) {
		id += strings.ToUpper(w[:1]) + w[1:]
	}
	return id
}

// schemaGen turns Go types into JSON Schemas as encoding/json writes them;
// named structs go to components once and are referred to.
type schemaGen struct{ defs map[string]any }

var (
	timeType      = reflect.TypeOf(time.Time{})
	rawType       = reflect.TypeOf(json.RawMessage{})
	marshalerType = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
)

func (g *schemaGen) schemaOf(t reflect.Type) map[string]any {
	nullable := false
	for t.Kind() == reflect.Pointer {
		t, nullable = t.Elem(), true
	}
	s := g.plain(t)
	if nullable {
		if typ, ok := s["type"].(string); ok {
			s = cloneMap(s)
			s["type"] = []any{typ, "null"}
		} else {
			s = map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
		}
	}
	return s
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (g *schemaGen) plain(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{}
	case t.Kind() != reflect.Struct && t.Implements(marshalerType):
		// Written as a string of its own (a duration, "5m").
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		// A nil slice is written as null.
		return map[string]any{"type": []any{"array", "null"}, "items": g.schemaOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": []any{"object", "null"}, "additionalProperties": g.schemaOf(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t)
		}
		name := t.Name()
		if _, done := g.defs[name]; !done {
			g.defs[name] = map[string]any{} // a placeholder while the type refers to itself
			g.defs[name] = g.object(t)
		}
		return ref(name)
	}
	return map[string]any{}
}

// object is a struct's schema: its JSON fields, embedded structs' included.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	slices.Sort(required)
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.schemaOf(f.Type)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
}
