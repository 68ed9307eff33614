package node

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The local API listens on loopback. An operator who binds it elsewhere must give it TLS
// (a certificate and key), or say explicitly that they accept clear text.

// isLoopbackHost reports whether host (from host:port) only reaches this machine.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validateAPIExposure is part of Config.Validate.
func (c *Config) validateAPIExposure() error {
	host, _, err := net.SplitHostPort(c.APIAddr)
	if err != nil {
		return nil // reported by Validate
	}
	if (c.APITLSCert == "") != (c.APITLSKey == "") {
		return errors.New("api TLS needs both a certificate and a key: give --api-tls-cert and --api-tls-key, or set both at once: allforone config set api_tls_cert FILE api_tls_key FILE")
	}
	if !isLoopbackHost(host) && c.APITLSCert == "" && !c.APIInsecure {
		return fmt.Errorf("api address %s can be reached from other machines: give it TLS (--api-tls-cert and --api-tls-key), or pass --api-insecure if you accept that the token travels in clear text, or keep it on 127.0.0.1", c.APIAddr)
	}
	return nil
}

// secureAPI wraps the API listener with TLS when a certificate is configured and returns
// the URL scheme.
func (n *Node) secureAPI(ln net.Listener) (net.Listener, string, error) {
	if n.cfg.APITLSCert == "" {
		return ln, "http", nil
	}
	cert, err := tls.LoadX509KeyPair(n.absPath(n.cfg.APITLSCert), n.absPath(n.cfg.APITLSKey))
	if err != nil {
		return nil, "", fmt.Errorf("api TLS certificate: %w (check --api-tls-cert and --api-tls-key)", err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), "https", nil
}

// dialableAddr is addr with an unspecified host (0.0.0.0, ::) replaced by loopback, for
// the api file that local commands read.
func dialableAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

func (n *Node) absPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(n.cfg.DataDir, p)
}

// clientFor builds the HTTP client for an api file entry: plain for host:port, TLS pinned
// to the configured certificate for https://host:port.
func clientFor(dataDir, entry string) (base string, hc *http.Client, err error) {
	hc = &http.Client{Timeout: 10 * time.Minute}
	if !strings.HasPrefix(entry, "https://") {
		return "http://" + entry, hc, nil
	}
	cfg, err := LoadConfig(dataDir)
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
