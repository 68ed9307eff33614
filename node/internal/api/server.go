// Package api is the HTTP side of the node's local control API: the server's life cycle,
// the bearer token, TLS, the api file, bounded request bodies (body.go) and Go's profiles
// (debug.go). The routes and what they answer are the node's; this package knows no node
// types.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"allforone/node/internal/store"
)

// Server is the local control API's HTTP server: JSON over HTTP on loopback (or TLS),
// every request carrying the token from <data>/api.token as "Authorization: Bearer
// <token>". The routes are the node's; Server serves them, guards them with the token and
// keeps the api file that local commands read.
type Server struct {
	srv     *http.Server
	ln      net.Listener
	addr    string
	entry   string // what the api file says: host:port or https://host:port
	file    string
	started time.Time
	done    chan struct{}
}

// Config is what a Server is started with.
type Config struct {
	Addr    string // host:port to listen on (port 0: any)
	DataDir string // where the token is read and the api file written
	// TLSCert and TLSKey are the certificate and key files (absolute paths), or empty for
	// plain HTTP.
	TLSCert, TLSKey string
	Handler         http.Handler
	// Public says which requests need no token (the dashboard's static assets).
	Public func(*http.Request) bool
	Log    *slog.Logger
}

// Start listens on cfg.Addr, serves cfg.Handler behind the token and writes the api file.
// The token file must exist (Init makes it).
func Start(cfg Config) (*Server, error) {
	tok, err := ReadToken(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("api address %s is already in use: stop the program using it, or pick another with --api (127.0.0.1:0 picks a free port)", cfg.Addr)
		}
		return nil, fmt.Errorf("api listen on %s: %w", cfg.Addr, err)
	}
	ln, scheme, err := secure(ln, cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, err
	}
	a := &Server{
		ln:      ln,
		addr:    ln.Addr().String(),
		file:    filepath.Join(cfg.DataDir, store.APIFile),
		started: time.Now(),
		done:    make(chan struct{}),
		srv: &http.Server{
			Handler:           RequireToken(tok, cfg.Handler, cfg.Public),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
		},
	}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Log.Error("api server stopped", "err", err)
		}
	}()
	entry := dialableAddr(a.addr)
	if scheme == "https" {
		entry = "https://" + entry
	}
	a.entry = entry
	if err := store.WriteFileAtomic(a.file, []byte(entry+"\n"), 0o600); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Close shuts the server down (waiting up to 5 s for requests in flight) and removes the
// api file if it still names this server.
func (a *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := a.srv.Shutdown(ctx)
	<-a.done
	if b, rerr := os.ReadFile(a.file); rerr == nil && strings.TrimSpace(string(b)) == a.entry {
		os.Remove(a.file)
	}
	return err
}

// Addr is host:port the server listens on.
func (a *Server) Addr() string { return a.addr }

// Started is when the server started.
func (a *Server) Started() time.Time { return a.started }

// ReadToken reads the API token of dataDir.
func ReadToken(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, store.TokenFile))
	if err != nil {
		return "", fmt.Errorf("read api token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("api token file %s is empty: delete it and restart the daemon to make a new one", filepath.Join(dataDir, store.TokenFile))
	}
	return tok, nil
}

// RequireToken answers 401 to any request without the right bearer token, except those
// that public allows (the dashboard's static assets: api_dashboard.go). The scheme name is
// matched without regard to case (RFC 7235: "bearer", "BEARER" and "Bearer" are one).
func RequireToken(token string, next http.Handler, public func(*http.Request) bool) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if public(r) {
			next.ServeHTTP(w, r)
			return
		}
		if subtle.ConstantTimeCompare(BearerToken(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="allforone"`)
			WriteJSON(w, http.StatusUnauthorized, Error{Error: "missing or wrong API token: send the token from <data>/api.token as 'Authorization: Bearer <token>'"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// BearerToken is the token of an Authorization header value "Bearer <token>" (the scheme
// in any case, spaces before the token allowed), or nil.
func BearerToken(h string) []byte {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	return []byte(strings.TrimLeft(tok, " "))
}

// WriteJSON answers with status and v as indented JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// Error is the body of every API error response.
type Error struct {
	Error string `json:"error"`
}
