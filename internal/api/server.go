package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"uptime/internal/alarm"
	"uptime/internal/errs"
	"uptime/internal/metrics"
	"uptime/internal/text"
)

// Endpoint handles one API call: it decodes and validates the request, calls
// the service and returns the response body, or nil for an empty one. An
// error is answered by RespondError.
type Endpoint func(r *http.Request) (any, error)

// Server routes requests to endpoints and wraps them in what every request
// gets: a log line, panic recovery, CORS, access control and the body limit.
type Server struct {
	mux      *http.ServeMux
	prefixes []prefixRoute
	log      *slog.Logger
	keyHash  []byte
	origins  []string // accepted for changes without the key, beside loopback
	hosts    []string // host names answered to, beside addresses and loopback
	// pageHost maps a request for a status page's own domain to its path;
	// see ServePageHosts.
	pageHost func(host, method, path string) (to string, isPage bool)
	limits   map[string]int64 // body limits of the patterns that need more than MaxBodyBytes
	keys     *keyGuard        // the clients sending wrong keys
	reads    *Limiter         // the expensive reads in flight: see Expensive
	logAll   bool             // log every request at INFO: see LogRequests
	routes   []route          // every route registered, for the OpenAPI document
	roles    map[string]Role  // the role each pattern needs

	auth          Authenticator // the users and tokens; nil: the API key alone
	readsMode     Reads
	loopback      bool // the server listens on loopback only, for ReadsAuto
	metricsPublic bool
	auditor       Auditor        // the audit log; nil: none
	proxies       []netip.Prefix // trusted proxies: see TrustProxies
	// DatabaseDown is raised by every request that finds the database
	// unreachable, instead of an ERROR line each: an outage is logged once
	// when it starts, once a minute, and once when it ends.
	DatabaseDown *alarm.Alarm
}

// slowRequest is how long a request takes before its log line is at INFO.
const slowRequest = time.Second

// LogRequests makes every request's log line INFO. Otherwise a request is
// logged at INFO only when it fails (a status of 400 or more) or takes
// slowRequest or longer, and at DEBUG else. It is meant for start-up
// wiring.
func (s *Server) LogRequests(all bool) { s.logAll = all }

// Bounds of the expensive reads, the ones of every site (GET /site and
// /status unpaged, the export): each streams its answer from the
// database, holding a connection for as long as it writes.
const (
	ExpensivePerClient = 2
	ExpensiveOverall   = 2
)

// Expensive wraps an endpoint that reads every site, so that it shares one
// bound with the others of its kind: ExpensivePerClient in flight for each
// client, ExpensiveOverall in all, 429 with Retry-After beyond them. The
// cheap reads the dashboard makes (a page of sites, the states of some)
// are not bounded by them.
func (s *Server) Expensive(e Endpoint) Endpoint { return s.reads.Wrap(e) }

// prefixRoute is a route matched by path prefix, before the path is cleaned,
// for endpoints whose path carries a URL (/ping/https://example.com).
type prefixRoute struct {
	prefix  string
	methods []string
	handler http.Handler
	role    Role
}

// NewServer returns a server with no routes. With a non-empty apiKey, every
// request that changes something or makes the server fetch a URL must carry
// "Authorization: Bearer <apiKey>" or a token an Authenticator knows (see
// Authenticate); the key is an admin's.
func NewServer(log *slog.Logger, apiKey string) *Server {
	s := &Server{mux: http.NewServeMux(), log: log, keys: newKeyGuard(log), reads: NewLimiter(ExpensivePerClient, ExpensiveOverall),
		loopback:     true, // reads open until Authenticate says otherwise
		DatabaseDown: alarm.New(log, "the database is unreachable")}
	if apiKey != "" {
		sum := sha256.Sum256([]byte(apiKey))
		s.keyHash = sum[:]
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := s.allowed(r); len(allow) > 0 {
			RespondError(w, r, s.log, &httpError{status: http.StatusMethodNotAllowed,
				err:    errs.Errorf(errs.Unimplemented, "%s is not allowed on %s; use %s", text.Clip(r.Method), text.Clip(r.URL.Path), strings.Join(allow, " or ")),
				header: http.Header{"Allow": {strings.Join(allow, ", ")}}})
			return
		}
		RespondError(w, r, s.log, errs.Errorf(errs.NotFound, "no endpoint for %s %s", text.Clip(r.Method), text.Quote(r.URL.Path)))
	})
	return s
}

// allowed lists the methods that have an endpoint at the request's path.
func (s *Server) allowed(r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		for _, p := range s.prefixes {
			if strings.HasPrefix(r.URL.Path, p.prefix) && slices.Contains(p.methods, m) {
				allow = append(allow, m)
			}
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" && !slices.Contains(allow, m) {
			allow = append(allow, m)
		}
	}
	return allow
}

// Handle registers an endpoint under a ServeMux pattern such as
// "GET /site/{siteID}", with its documentation for the OpenAPI document.
func (s *Server) Handle(pattern string, e Endpoint, doc ...Doc) {
	s.mux.Handle(pattern, s.endpoint(e))
	s.addRoute(pattern, doc)
}

// HandleLarge registers an endpoint whose request bodies may be up to
// limit bytes instead of MaxBodyBytes.
func (s *Server) HandleLarge(pattern string, limit int64, e Endpoint, doc ...Doc) {
	if s.limits == nil {
		s.limits = map[string]int64{}
	}
	s.limits[pattern] = limit
	s.Handle(pattern, e, doc...)
}

// HandlePrefix registers an endpoint for every path that starts with prefix,
// for the given methods. The path is not cleaned first, so "//" in it stays.
// The rest of the path is the parameter param.
func (s *Server) HandlePrefix(prefix, param string, methods []string, e Endpoint, doc ...Doc) {
	pattern := strings.Join(methods, ",") + " " + prefix + "{" + param + "}"
	s.addRoute(pattern, doc)
	s.prefixes = append(s.prefixes, prefixRoute{prefix: prefix, methods: methods, handler: s.endpoint(e), role: s.roles[pattern]})
}

// HandleHTTP registers a plain handler, for what is not a JSON endpoint (the
// dashboard's files, the metrics).
func (s *Server) HandleHTTP(pattern string, h http.Handler, doc ...Doc) {
	s.mux.Handle(pattern, h)
	s.addRoute(pattern, doc)
}

func (s *Server) endpoint(e Endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := e(r)
		if err != nil && databaseUnreachable(err) {
			s.DatabaseDown.Raise(text.Redact(err.Error()), "method", r.Method, "path", logPath(r))
			writeError(w, errs.Errorf(errs.Unavailable, "the database is unavailable; try again shortly"), nil, 0)
			return
		}
		if err != nil {
			RespondError(w, r, s.log, err)
			return
		}
		Respond(w, resp)
	})
}

// ServeHTTP serves a request through the middleware and the routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.ErrorContext(r.Context(), "panic serving request", "method", r.Method, "path", logPath(r),
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !rec.wrote {
				RespondError(rec, r, s.log, errs.Errorf(errs.Internal, "internal error"))
			}
		}
		took := time.Since(start)
		level := slog.LevelDebug
		if s.logAll || rec.status >= 400 || took >= slowRequest {
			level = slog.LevelInfo
		}
		s.log.Log(r.Context(), level, "request", "method", r.Method, "path", logPath(r),
			"status", rec.status, "bytes", rec.bytes, "duration", took.Round(time.Microsecond))
		route := s.route(r)
		metrics.Requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		metrics.RequestDuration.WithLabelValues(route).Observe(took.Seconds())
	}()

	if len(s.proxies) > 0 {
		r = r.WithContext(context.WithValue(r.Context(), clientKey{}, s.client(r)))
	}
	if to, isPage := s.pageHostPath(r); isPage {
		if to == "" {
			RespondError(rec, r, s.log, errs.Errorf(errs.NotFound, "this host name serves a status page: /, /history and its feeds"))
			return
		}
		r = r.Clone(r.Context())
		r.URL.Path, r.URL.RawPath = to, ""
	} else if !s.knownHost(r) {
		RespondError(rec, r, s.log, errs.Errorf(errs.PermissionDenied, "this server does not answer to the host name %s; "+
			"name it with --public-url or --allowed-hosts", text.Quote(r.Host)))
		return
	}
	if s.cors(rec, r) {
		return
	}
	r, need, ok := s.admit(rec, r)
	if !ok {
		return
	}
	if !utf8.ValidString(r.URL.Path) || !utf8.ValidString(r.URL.RawQuery) || !validQuery(r) {
		RespondError(rec, r, s.log, errs.Errorf(errs.InvalidArgument, "the path and query must be valid UTF-8, percent-encoded bytes included"))
		return
	}
	limit := int64(MaxBodyBytes)
	if s.limits != nil {
		if _, pattern := s.mux.Handler(r); s.limits[pattern] > 0 {
			limit = s.limits[pattern]
		}
	}
	r.Body = http.MaxBytesReader(rec, r.Body, limit)
	if s.auditor != nil && audited(r, need) {
		s.serveAudited(rec, r, s.route(r), s.dispatch)
		return
	}
	s.dispatch(rec, r)
}

// dispatch serves a request by its route.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	for _, p := range s.prefixes {
		if strings.HasPrefix(r.URL.Path, p.prefix) {
			for _, m := range p.methods {
				if r.Method == m {
					p.handler.ServeHTTP(w, r)
					return
				}
			}
		}
	}
	s.mux.ServeHTTP(w, r)
}

// route names a request's route for metrics: its pattern, so that the
// labels stay few whatever the paths asked for.
func (s *Server) route(r *http.Request) string {
	for _, p := range s.prefixes {
		if strings.HasPrefix(r.URL.Path, p.prefix) {
			return p.prefix + "*"
		}
	}
	if r.Pattern != "" {
		return r.Pattern
	}
	// Refused before routing: the route it asked for.
	if _, pattern := s.mux.Handler(r); pattern != "" {
		return pattern
	}
	return "/"
}

// validQuery reports whether every query parameter decodes to valid UTF-8.
func validQuery(r *http.Request) bool {
	for k, vs := range r.URL.Query() {
		if !utf8.ValidString(k) {
			return false
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return false
			}
		}
	}
	return true
}

// validKey compares a bearer token with the API key in constant time.
// Both are hashed first so that not even the key's length leaks.
func (s *Server) validKey(token string) bool {
	if s.keyHash == nil {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(sum[:], s.keyHash) == 1
}

// recorder remembers the status and size of a response for the log line.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
	wrote  bool
}

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status = status
		r.wrote = true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logPath is a request's path as logs show it: a push site's ping URL
// with its token masked, and what looks like a credential hidden.
func logPath(r *http.Request) string {
	p := r.URL.Path
	if rest, ok := strings.CutPrefix(p, "/heartbeat/"); ok {
		p = "/heartbeat/" + text.Mask
		if _, signal, ok := strings.Cut(rest, "/"); ok {
			p += "/" + signal
		}
	}
	return text.Redact(p)
}
