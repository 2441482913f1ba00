package external

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a signed request.
const (
	SignatureHeader = "X-Spinel-Signature" // "sha256=" + hex HMAC-SHA256
	TimestampHeader = "X-Spinel-Timestamp" // unix seconds, decimal
)

// DefaultMaxSkew is the clock difference Verify allows when given none.
const DefaultMaxSkew = 5 * time.Minute

// Errors of Verify; match them with errors.Is.
var (
	ErrNoSecret     = errors.New("no secret to verify with")
	ErrNoSignature  = errors.New("request is not signed")
	ErrBadTimestamp = errors.New("request timestamp is stale or malformed")
	ErrBadSignature = errors.New("request signature does not match")
)

const signaturePrefix = "sha256="

// Sign returns the X-Spinel-Signature value of body sent at timestamp
// (unix seconds): "sha256=" and the lowercase hex HMAC-SHA256, keyed with
// secret, of the decimal timestamp, a ".", and the body.
func Sign(secret string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return signaturePrefix + hex.EncodeToString(m.Sum(nil))
}

// Verify checks that r, whose body the caller has read into body, was
// signed with secret less than maxSkew ago (or ahead; maxSkew <= 0 means
// DefaultMaxSkew). Backends written in Go call it on every request before
// acting on it:
//
//	body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<20))
//	if err := external.Verify(secret, r, body, time.Minute); err != nil {
//		http.Error(w, err.Error(), http.StatusUnauthorized)
//		return
//	}
//
// The signature covers the timestamp and the body, not the method or
// path: a backend must also check that the body's "id" is the router id of
// the path. The comparison is constant-time.
func Verify(secret string, r *http.Request, body []byte, maxSkew time.Duration) error {
	if secret == "" {
		return ErrNoSecret
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	sig, ts := r.Header.Get(SignatureHeader), r.Header.Get(TimestampHeader)
	if sig == "" || ts == "" {
		return fmt.Errorf("%w: want headers %s and %s", ErrNoSignature, SignatureHeader, TimestampHeader)
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || t <= 0 {
		return fmt.Errorf("%w: %s %q is not unix seconds", ErrBadTimestamp, TimestampHeader, ts)
	}
	skew := time.Since(time.Unix(t, 0))
	if skew > maxSkew || skew < -maxSkew {
		return fmt.Errorf("%w: %s is %s off this clock, more than %s", ErrBadTimestamp, TimestampHeader, skew.Abs().Truncate(time.Second), maxSkew)
	}
	got, ok := strings.CutPrefix(sig, signaturePrefix)
	if !ok {
		return fmt.Errorf("%w: %s must start with %q", ErrBadSignature, SignatureHeader, signaturePrefix)
	}
	mac, err := hex.DecodeString(got)
	if err != nil {
		return fmt.Errorf("%w: %s is not hex", ErrBadSignature, SignatureHeader)
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(secret, t, body), signaturePrefix))
	if !hmac.Equal(mac, want) {
		return ErrBadSignature
	}
	return nil
}
