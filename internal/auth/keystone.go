package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/spinel-net/spinel/internal/neutron"
)

// Defaults of KeystoneConfig.
const (
	DefaultTokenCacheTime  = 5 * time.Minute
	DefaultTokenCacheSize  = 10000
	DefaultKeystoneTimeout = 10 * time.Second
	// MaxTokenBytes is the longest X-Auth-Token sent to Keystone; longer
	// ones are refused without asking (fernet tokens are ~200 bytes).
	MaxTokenBytes = 8192
)

// KeystoneConfig configures Keystone v3 token authentication.
type KeystoneConfig struct {
	// URL is Keystone's public endpoint, e.g. http://keystone:5000 or
	// http://keystone:5000/v3 (a trailing /v3 is optional).
	URL string
	// Service credentials: spinel's own user, which validates the tokens of
	// its callers. It needs the "service" role (or admin) in its project.
	Username          string
	Password          string
	ProjectName       string
	UserDomainName    string // default "Default"
	ProjectDomainName string // default "Default"
	// CacheTime is the longest a validated token is trusted without asking
	// Keystone again (keystonemiddleware's token_cache_time). A token is
	// never trusted past its own expiry; a token revoked in Keystone is
	// still accepted for up to CacheTime. Zero disables the cache; negative
	// means the default.
	CacheTime time.Duration
	// CacheSize bounds the number of cached tokens (default 10000); the
	// oldest entries are evicted first.
	CacheSize int
	// Timeout bounds one request to Keystone (default 10 s).
	Timeout time.Duration
	// HTTPClient talks to Keystone; a client with Timeout if nil.
	HTTPClient *http.Client
	// Log receives warnings about Keystone's answers (discarded if nil).
	Log *slog.Logger
}

// Validate reports what is missing or malformed in c.
func (c KeystoneConfig) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("keystone: no URL (--keystone-url)"))
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("keystone: bad URL %q (want http(s)://host[:port][/v3])", c.URL))
	}
	if c.Username == "" {
		errs = append(errs, errors.New("keystone: no service user name (--keystone-username)"))
	}
	if c.Password == "" {
		errs = append(errs, errors.New("keystone: no service user password (--keystone-password)"))
	}
	if c.ProjectName == "" {
		errs = append(errs, errors.New("keystone: no service project (--keystone-project)"))
	}
	if c.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("keystone: negative token cache size %d", c.CacheSize))
	}
	return errors.Join(errs...)
}

// Keystone authenticates API requests by their X-Auth-Token against
// Keystone v3 (GET /v3/auth/tokens), the way keystonemiddleware does for
// Neutron. It is safe for concurrent use.
//
// Outcomes: a missing, malformed, expired or revoked token is a 401
// (HTTPUnauthorized, with a WWW-Authenticate challenge naming Keystone); a
// valid token not scoped to a project is a 403; Keystone unreachable, failing
// or refusing spinel's own credentials is a 503 — never a pass. Valid and
// invalid answers are cached (see KeystoneConfig.CacheTime), and concurrent
// requests with the same uncached token share one request to Keystone.
type Keystone struct {
	cfg    KeystoneConfig
	base   string // Keystone root without /v3 and trailing slash
	http   *http.Client
	log    *slog.Logger
	now    func() time.Time
	cache  *tokenCache
	flight flightGroup

	svcMu     sync.Mutex // serialises service token refreshes
	svcToken  string
	svcExpiry time.Time
	svcMargin time.Duration
}

var _ Authenticator = (*Keystone)(nil)

// NewKeystone returns a Keystone authenticator. It does not contact
// Keystone: the service token is obtained at the first request, so spinel
// starts while Keystone is down (and answers 503 until it is back).
func NewKeystone(cfg KeystoneConfig) (*Keystone, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.UserDomainName == "" {
		cfg.UserDomainName = "Default"
	}
	if cfg.ProjectDomainName == "" {
		cfg.ProjectDomainName = "Default"
	}
	if cfg.CacheTime < 0 {
		cfg.CacheTime = DefaultTokenCacheTime
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultTokenCacheSize
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultKeystoneTimeout
	}
	k := &Keystone{
		cfg:   cfg,
		base:  keystoneBase(cfg.URL),
		http:  cfg.HTTPClient,
		log:   cfg.Log,
		now:   time.Now,
		cache: newTokenCache(cfg.CacheSize),
	}
	if k.http == nil {
		k.http = &http.Client{Timeout: cfg.Timeout}
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	return k, nil
}

// keystoneBase strips a trailing slash and /v3 from an endpoint URL.
func keystoneBase(u string) string {
	u = strings.TrimRight(u, "/")
	u = strings.TrimSuffix(u, "/v3")
	return strings.TrimRight(u, "/")
}

// Authenticate implements Authenticator.
func (k *Keystone) Authenticate(r *http.Request) (*Identity, error) {
	token := strings.TrimSpace(r.Header.Get("X-Auth-Token"))
	if token == "" || len(token) > MaxTokenBytes {
		return nil, k.unauthorized()
	}
	id, err := k.Validate(r.Context(), token)
	if err != nil {
		return nil, err
	}
	cp := *id
	return &cp, nil
}

// Validate returns the identity of token, from the cache or from Keystone.
// The returned Identity is shared: callers must not modify it.
func (k *Keystone) Validate(ctx context.Context, token string) (*Identity, error) {
	key := sha256.Sum256([]byte(token))
	if k.cfg.CacheTime > 0 {
		if e, ok := k.cache.get(key, k.now()); ok {
			if e.err != nil {
				return nil, e.err
			}
			return e.id, nil
		}
	}
	return k.flight.do(ctx, key, func() (*Identity, error) {
		// One request for all concurrent callers: not bound to the
		// context of whichever caller came first.
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.cfg.Timeout)
		defer cancel()
		id, until, err := k.validate(vctx, token)
		if k.cfg.CacheTime > 0 && (err == nil || isCacheable(err)) {
			limit := k.now().Add(k.cfg.CacheTime)
			if err != nil || until.After(limit) {
				until = limit
			}
			k.cache.put(key, cacheEntry{id: id, err: err, until: until})
		}
		return id, err
	})
}

// isCacheable reports whether a refusal is Keystone's verdict on the token
// (401/403), as opposed to Keystone being unavailable (503).
func isCacheable(err error) bool {
	e, ok := neutron.As(err)
	return ok && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// challengeError is a 401 that carries Keystone's WWW-Authenticate challenge.
type challengeError struct {
	err    *neutron.Error
	header http.Header
}

func (e *challengeError) Error() string { return e.err.Error() }
func (e *challengeError) Unwrap() error { return e.err }

// ResponseHeader returns the headers the API server adds to the response.
func (e *challengeError) ResponseHeader() http.Header { return e.header }

func (k *Keystone) unauthorized() error {
	return &challengeError{
		err:    neutron.Newf(http.StatusUnauthorized, "HTTPUnauthorized", "The request you have made requires authentication."),
		header: http.Header{"Www-Authenticate": {fmt.Sprintf("Keystone uri=%q", k.base)}},
	}
}

func unavailable() error {
	return neutron.Newf(http.StatusServiceUnavailable, "HTTPServiceUnavailable", "The Keystone service is temporarily unavailable.")
}

func notProjectScoped() error {
	return neutron.Newf(http.StatusForbidden, "HTTPForbidden", "The token is not scoped to a project; spinel accepts only project-scoped tokens.")
}
