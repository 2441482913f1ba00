package store

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// RunElected runs fn whenever this process holds the leadership of name
// among all servers sharing the store, and returns when ctx ends. If the
// leadership is lost (the etcd session expires), fn's context is cancelled
// and the process campaigns again. The process campaigns with its
// Config.Identity, which Leaders reports.
func (s *Store) RunElected(ctx context.Context, name string, log *slog.Logger, fn func(context.Context) error) {
	for ctx.Err() == nil {
		if err := s.leadOnce(ctx, name, log, fn); err != nil && ctx.Err() == nil {
			log.Warn("leader election", "name", name, "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
	}
}

func (s *Store) leadOnce(ctx context.Context, name string, log *slog.Logger, fn func(context.Context) error) error {
	sess, err := concurrency.NewSession(s.Client, concurrency.WithTTL(10), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	defer func() {
		// Revoking the session's lease releases the leadership at once,
		// also when ctx is already cancelled (shutdown), so another
		// server takes over without waiting for the lease to expire.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		s.Client.Revoke(rctx, sess.Lease())
		rcancel()
		sess.Close()
	}()
	el := concurrency.NewElection(sess, s.electionKey(name))
	if err := el.Campaign(ctx, s.identity); err != nil {
		return err
	}
	log.Info("elected", "name", name)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-lctx.Done():
		}
	}()
	err = fn(lctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (s *Store) electionKey(name string) string { return s.prefix + "/election/" + name }
