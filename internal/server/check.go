package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/spinel-net/spinel/internal/apiserver"
	"github.com/spinel-net/spinel/internal/auth"
	"github.com/spinel-net/spinel/internal/policy"
	"github.com/spinel-net/spinel/internal/ratelimit"
)

// Authentication modes of Config.Auth.
const (
	AuthNoAuth   = "noauth"
	AuthKeystone = "keystone"
)

// Check validates cfg as far as it can without opening etcd or listening:
// the listen address, the authentication settings, that the TLS files load,
// the policy file, the rate limit and the etcd TLS files. It returns every problem
// found, joined.
func Check(cfg Config) error {
	var errs []error
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: %w", cfg.Listen, err))
	}
	if _, err := newAuthenticator(cfg, slog.New(slog.DiscardHandler)); err != nil {
		errs = append(errs, err)
	}
	if _, err := tlsConfig(cfg); err != nil {
		errs = append(errs, err)
	}
	if _, err := policy.Load(cfg.PolicyFile); err != nil {
		errs = append(errs, fmt.Errorf("--policy-file: %w", err))
	}
	if cfg.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("--rate-limit %v: must be 0 (off) or positive", cfg.RateLimit))
	}
	if cfg.RateBurst < 0 {
		errs = append(errs, fmt.Errorf("--rate-burst %d: must not be negative", cfg.RateBurst))
	}
	if len(cfg.Store.Endpoints) == 0 && cfg.Store.DataDir == "" {
		errs = append(errs, errors.New("--data-dir: needed for the embedded etcd member (or give --etcd-endpoints)"))
	}
	errs = append(errs, checkKeyPair("--etcd-cert/--etcd-key", cfg.Store.CertFile, cfg.Store.KeyFile))
	errs = append(errs, checkCA("--etcd-ca", cfg.Store.CAFile))
	errs = append(errs, checkKeyPair("etcd peer certificate/key", cfg.Store.PeerCertFile, cfg.Store.PeerKeyFile))
	errs = append(errs, checkCA("etcd peer CA", cfg.Store.PeerCAFile))
	return errors.Join(errs...)
}

// newAuthenticator returns the API's authenticator for cfg.Auth.
func newAuthenticator(cfg Config, log *slog.Logger) (auth.Authenticator, error) {
	switch cfg.Auth {
	case "", AuthNoAuth:
		return auth.NoAuth{AdminProject: cfg.NoAuthProject}, nil
	case AuthKeystone:
		kc := cfg.Keystone
		kc.Log = log.With("component", "keystone")
		k, err := auth.NewKeystone(kc)
		if err != nil {
			return nil, fmt.Errorf("--auth keystone: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("--auth %q: want noauth or keystone", cfg.Auth)
}

// tlsConfig loads the API's certificate; nil without TLS.
func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.TLSCert == "" && cfg.TLSKey == "" {
		return nil, nil
	}
	if cfg.TLSCert == "" || cfg.TLSKey == "" {
		return nil, errors.New("--tls-cert and --tls-key: give both or neither")
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// rateLimiter returns the per-project limiter; nil when off.
func rateLimiter(cfg Config) apiserver.RateLimiter {
	if cfg.RateLimit <= 0 {
		return nil
	}
	burst := cfg.RateBurst
	if burst <= 0 {
		burst = max(1, int(cfg.RateLimit))
	}
	return ratelimit.New(cfg.RateLimit, burst)
}

func checkKeyPair(what, cert, key string) error {
	if cert == "" && key == "" {
		return nil
	}
	if cert == "" || key == "" {
		return fmt.Errorf("%s: give both or neither", what)
	}
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func checkCA(what, file string) error {
	if file == "" {
		return nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s: %s holds no PEM certificate", what, file)
	}
	return nil
}
