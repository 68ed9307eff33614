package api

import (
	"crypto/tls"
	"fmt"
	"net"
)

// The local API listens on loopback. An operator who binds it elsewhere must give it TLS
// (a certificate and key), or say explicitly that they accept clear text (the node's
// Config.Validate checks that).

// IsLoopbackHost reports whether host (from host:port) only reaches this machine.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// secure wraps the API listener with TLS when a certificate is given and returns the URL
// scheme.
func secure(ln net.Listener, certFile, keyFile string) (net.Listener, string, error) {
	if certFile == "" {
		return ln, "http", nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
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
