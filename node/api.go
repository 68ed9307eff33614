package node

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

// apiServer is the local control API: JSON over HTTP on loopback, every request carrying
// the token from <data>/api.token as "Authorization: Bearer <token>".
type apiServer struct {
	srv     *http.Server
	ln      net.Listener
	addr    string
	entry   string // what the api file says: host:port or https://host:port
	file    string
	started time.Time
	done    chan struct{}
}

func (n *Node) startAPI() error {
	if err := ensureToken(n.cfg.DataDir); err != nil {
		return err
	}
	tok, err := readToken(n.cfg.DataDir)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", n.cfg.APIAddr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("api address %s is already in use: stop the program using it, or pick another with --api (127.0.0.1:0 picks a free port)", n.cfg.APIAddr)
		}
		return fmt.Errorf("api listen on %s: %w", n.cfg.APIAddr, err)
	}
	ln, scheme, err := n.secureAPI(ln)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	n.routes(mux)
	a := &apiServer{
		ln:      ln,
		addr:    ln.Addr().String(),
		file:    filepath.Join(n.cfg.DataDir, APIFile),
		started: time.Now(),
		done:    make(chan struct{}),
		srv: &http.Server{
			Handler:           requireToken(tok, mux, n.publicRequest),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(n.logs.api.Handler(), slog.LevelDebug),
		},
	}
	n.api = a
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.logs.api.Error("api server stopped", "err", err)
		}
	}()
	entry := dialableAddr(a.addr)
	if scheme == "https" {
		entry = "https://" + entry
	}
	a.entry = entry
	if err := store.WriteFileAtomic(a.file, []byte(entry+"\n"), 0o600); err != nil {
		return err
	}
	return nil
}

func (a *apiServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := a.srv.Shutdown(ctx)
	<-a.done
	// Remove the api file only if it still names this server.
	if b, rerr := os.ReadFile(a.file); rerr == nil && strings.TrimSpace(string(b)) == a.entry {
		os.Remove(a.file)
	}
	return err
}

// APIAddr is host:port of the node's API; empty before Start.
func (n *Node) APIAddr() string {
	if n.api == nil {
		return ""
	}
	return n.api.addr
}

func readToken(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, TokenFile))
	if err != nil {
		return "", fmt.Errorf("read api token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("api token file %s is empty: delete it and restart the daemon to make a new one", filepath.Join(dataDir, TokenFile))
	}
	return tok, nil
}

// requireToken answers 401 to any request without the right bearer token, except those
// that public allows (the dashboard's static assets: api_dashboard.go). The scheme name is
// matched without regard to case (RFC 7235: "bearer", "BEARER" and "Bearer" are one).
func requireToken(token string, next http.Handler, public func(*http.Request) bool) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if public(r) {
			next.ServeHTTP(w, r)
			return
		}
		if subtle.ConstantTimeCompare(bearerToken(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="allforone"`)
			writeJSON(w, http.StatusUnauthorized, APIError{Error: "missing or wrong API token: send the token from <data>/api.token as 'Authorization: Bearer <token>'"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken is the token of an Authorization header value "Bearer <token>" (the scheme
// in any case, spaces before the token allowed), or nil.
func bearerToken(h string) []byte {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	return []byte(strings.TrimLeft(tok, " "))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
