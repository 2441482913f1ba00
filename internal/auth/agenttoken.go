package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
)

// AgentTokens issues and verifies per-host agent credentials. A token is
// "<host>.<mac>" where mac is an HMAC-SHA256 of the host name under the
// deployment's agent secret: it lets its bearer act as that host only,
// needs no storage, and is revoked for all hosts by changing the secret.
type AgentTokens struct {
	Secret []byte
}

// ErrAgentAuth is returned for a missing or invalid agent credential.
var ErrAgentAuth = errors.New("auth: invalid agent credential")

func (a AgentTokens) mac(host string) string {
	m := hmac.New(sha256.New, a.Secret)
	m.Write([]byte("spinel-agent\x00" + host))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Issue returns the token of host.
func (a AgentTokens) Issue(host string) string { return host + "." + a.mac(host) }

// Verify checks a token and returns the host it belongs to.
func (a AgentTokens) Verify(token string) (string, error) {
	if len(a.Secret) == 0 {
		return "", ErrAgentAuth
	}
	i := strings.LastIndexByte(token, '.')
	if i <= 0 {
		return "", ErrAgentAuth
	}
	host, mac := token[:i], token[i+1:]
	if !hmac.Equal([]byte(mac), []byte(a.mac(host))) {
		return "", ErrAgentAuth
	}
	return host, nil
}

// AgentHost authenticates an agent request by its "Authorization: Bearer" token.
func (a AgentTokens) AgentHost(r *http.Request) (string, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", ErrAgentAuth
	}
	return a.Verify(strings.TrimSpace(tok))
}
