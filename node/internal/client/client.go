// Package client is the local API's client: it finds a running daemon through the data
// dir's api and api.token files (pinning its TLS certificate when it has one) and decodes
// its answers into the bodies of package apitypes.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"allforone/node/internal/api"
	"allforone/node/internal/apitypes"
	"allforone/node/internal/config"
	"allforone/node/internal/store"
)

// ErrDaemonNotRunning means no daemon's API could be reached for a data dir.
var ErrDaemonNotRunning = errors.New("daemon not running")

// Client talks to a running daemon's local API, found through the data dir's api and
// api.token files.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client for the daemon that runs on dataDir.
func New(dataDir string) (*Client, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, store.APIFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w for data dir %s: start it with `allforone daemon --data %s`", ErrDaemonNotRunning, dataDir, dataDir)
		}
		return nil, fmt.Errorf("read api address: %w", err)
	}
	tok, err := api.ReadToken(dataDir)
	if err != nil {
		return nil, err
	}
	base, hc, err := clientFor(dataDir, strings.TrimSpace(string(b)))
	if err != nil {
		return nil, err
	}
	return &Client{base: base, token: tok, http: hc}, nil
}

// WithDialer makes the client open its connections with dial (tests use it to reach a
// daemon inside a network namespace). It returns c.
func (c *Client) WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *Client {
	t, ok := c.http.Transport.(*http.Transport)
	if ok {
		t = t.Clone()
	} else {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	t.DialContext = dial
	hc := *c.http
	hc.Transport = t
	c.http = &hc
	return c
}

// NewAt returns a client for the API at host:port with the given token.
func NewAt(addr, token string) *Client {
	return &Client{base: "http://" + addr, token: token, http: &http.Client{Timeout: 10 * time.Minute}}
}

// Get fetches path (e.g. "/api/v1/id") and decodes the JSON answer into out.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

// Post sends in as JSON to path and decodes the JSON answer into out (which may be nil).
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, bytes.NewReader(b), out)
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, out)
}

// send sends req with the token and decodes the JSON answer into out (which may be nil).
// An answer other than 2xx gives a *StatusError.
func (c *Client) send(req *http.Request, out any) error {
	method, path := req.Method, req.URL.Path
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: cannot reach the API at %s (%v): is `allforone daemon` running?", ErrDaemonNotRunning, c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return statusError(method, path, resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("api %s %s: bad answer: %w", method, path, err)
	}
	return nil
}

// StatusError is an API answer other than 2xx: Status is the HTTP status, Message what the
// daemon said. A 4xx status means the request was at fault (bad input: fix it and retry);
// a 5xx one that the daemon could not do it.
type StatusError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("api %s %s: %s", e.Method, e.Path, e.Message)
}

// BadRequest reports whether the daemon refused the request for what it contained (4xx).
func (e *StatusError) BadRequest() bool { return e.Status >= 400 && e.Status < 500 }

func statusError(method, path string, resp *http.Response) *StatusError {
	e := &StatusError{Method: method, Path: path, Status: resp.StatusCode, Message: resp.Status}
	var body api.Error
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &body) == nil && body.Error != "" {
		e.Message = body.Error
	}
	return e
}

// ID returns the daemon's identity and addresses.
func (c *Client) ID(ctx context.Context) (apitypes.IDInfo, error) {
	var v apitypes.IDInfo
	return v, c.Get(ctx, "/api/v1/id", &v)
}

// Peers lists the daemon's connected peers.
func (c *Client) Peers(ctx context.Context) ([]apitypes.PeerInfo, error) {
	var v []apitypes.PeerInfo
	return v, c.Get(ctx, "/api/v1/peers", &v)
}

// apitypes.Health reports whether the daemon is in its swarm.
func (c *Client) Health(ctx context.Context) (apitypes.Health, error) {
	var v apitypes.Health
	return v, c.Get(ctx, "/api/v1/health", &v)
}

// Submit submits a batch.
func (c *Client) Submit(ctx context.Context, req apitypes.SubmitRequest) (apitypes.SubmitResult, error) {
	var v apitypes.SubmitResult
	return v, c.Post(ctx, "/api/v1/batches", req, &v)
}

// Status returns a batch's progress.
func (c *Client) Status(ctx context.Context, id string) (apitypes.BatchStatus, error) {
	var v apitypes.BatchStatus
	return v, c.Get(ctx, "/api/v1/batches/"+id, &v)
}

// Batches lists the batches the daemon knows.
func (c *Client) Batches(ctx context.Context) ([]apitypes.BatchInfo, error) {
	var v []apitypes.BatchInfo
	return v, c.Get(ctx, "/api/v1/batches", &v)
}

// Fetch makes the daemon copy a batch's results from their holders.
func (c *Client) Fetch(ctx context.Context, id string) (apitypes.FetchReport, error) {
	var v apitypes.FetchReport
	return v, c.Post(ctx, "/api/v1/batches/"+id+"/fetch", struct{}{}, &v)
}

// apitypes.OutputNames returns how the submitter named the batch's outputs; ok is false when the
// daemon did not submit it (name outputs by task index then).
func (c *Client) OutputNames(ctx context.Context, id string) (names apitypes.OutputNames, ok bool, err error) {
	err = c.Get(ctx, "/api/v1/batches/"+id+"/names", &names)
	var se *StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return apitypes.OutputNames{}, false, nil
	}
	return names, err == nil, err
}

// Output returns the output of one task of a batch, once the daemon holds it.
func (c *Client) Output(ctx context.Context, id string, task int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/batches/%s/results/%d", c.base, id, task), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDaemonNotRunning, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		se := statusError(req.Method, req.URL.Path, resp)
		se.Message = fmt.Sprintf("output of task %d: %s", task, se.Message)
		return nil, se
	}
	return io.ReadAll(resp.Body)
}

// CloseIdleConnections closes the client's idle keep-alive connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// clientFor builds the HTTP client for an api file entry: plain for host:port, TLS pinned
// to the configured certificate for https://host:port.
func clientFor(dataDir, entry string) (base string, hc *http.Client, err error) {
	hc = &http.Client{Timeout: 10 * time.Minute}
	if !strings.HasPrefix(entry, "https://") {
		return "http://" + entry, hc, nil
	}
	cfg, err := config.Load(dataDir)
	if err != nil {
		return "", nil, err
	}
	certPath := cfg.APITLSCert
	if !filepath.IsAbs(certPath) {
		certPath = filepath.Join(dataDir, certPath)
	}
	pemBytes, err := os.ReadFile(certPath)
	if err != nil {
		return "", nil, fmt.Errorf("read the API's TLS certificate: %w", err)
	}
	leaf := firstCert(pemBytes)
	if leaf == nil {
		return "", nil, errors.New("the API's TLS certificate file holds no certificate")
	}
	hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{
		// The daemon's own certificate is pinned: the name in it does not matter.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], leaf) {
				return errors.New("the API's certificate is not the one configured for this data dir")
			}
			return nil
		},
	}}
	return entry, hc, nil
}

// firstCert returns the DER bytes of the first certificate in a PEM file.
func firstCert(pemBytes []byte) []byte {
	for {
		var block *pem.Block
		block, pemBytes = pem.Decode(pemBytes)
		if block == nil {
			return nil
		}
		if block.Type == "CERTIFICATE" {
			return block.Bytes
		}
	}
}

// Why asks the daemon why it is not computing.
func (c *Client) Why(ctx context.Context) (apitypes.WhyReport, error) {
	var v apitypes.WhyReport
	return v, c.Get(ctx, "/api/v1/why", &v)
}

// apitypes.Dashboard returns everything the dashboard page shows.
func (c *Client) Dashboard(ctx context.Context) (apitypes.Dashboard, error) {
	var v apitypes.Dashboard
	return v, c.Get(ctx, "/api/v1/dashboard", &v)
}

// ReloadPrefs makes the daemon read its preferences from config.json again.
func (c *Client) ReloadPrefs(ctx context.Context) (apitypes.PrefsInfo, error) {
	var v apitypes.PrefsInfo
	return v, c.Post(ctx, "/api/v1/prefs/reload", struct{}{}, &v)
}

// BaseURL is the daemon API's address as a URL: http://host:port (or https://).
func (c *Client) BaseURL() string { return c.base }

// Token is the API token the client sends.
func (c *Client) Token() string { return c.token }
