package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate and key into dir.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	sk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "allforone"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &sk.PublicKey, sk)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(sk)
	cert, key = filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

func TestAPIBeyondLoopbackNeedsTLSOrConsent(t *testing.T) {
	c := TestConfig(t.TempDir())
	c.APIAddr = "0.0.0.0:0"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--api-tls-cert") {
		t.Fatalf("an API on 0.0.0.0 without TLS: %v", err)
	}
	c.APIInsecure = true
	if err := c.Validate(); err != nil {
		t.Fatalf("with --api-insecure: %v", err)
	}
	c.APIInsecure, c.APITLSCert = false, "x.crt"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "both") {
		t.Fatalf("a certificate without a key: %v", err)
	}
}

func TestAPIOverTLS(t *testing.T) {
	cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
	if _, err := Init(cfg, ""); err != nil {
		t.Fatal(err)
	}
	cfg.APIAddr = "0.0.0.0:0"
	cfg.APITLSCert, cfg.APITLSKey = selfSigned(t, cfg.DataDir)
	if err := cfg.Save(); err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	entry, _ := os.ReadFile(filepath.Join(cfg.DataDir, APIFile))
	if !strings.HasPrefix(string(entry), "https://127.0.0.1:") {
		t.Fatalf("api file %q: want a dialable https address", entry)
	}
	c, err := NewClient(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	if info, err := c.ID(t.Context()); err != nil || info.PeerID != n.ID().String() {
		t.Fatalf("ID over TLS: %+v %v", info, err)
	}
	// Plain HTTP to the TLS port gets no data.
	plain := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := plain.Get("http://" + strings.TrimPrefix(strings.TrimSpace(string(entry)), "https://") + "/api/v1/id")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered on the TLS port")
		}
	}
}
