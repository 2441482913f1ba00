package store

import (
	"context"
	"log/slog"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// RunElected runs fn whenever this process holds the leadership of name
// among all servers sharing the store, and returns when ctx ends. If the
// leadership is lost (the etcd session expires), fn's context is cancelled
// and the process campaigns again.
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
	defer sess.Close()
	el := concurrency.NewElection(sess, s.prefix+"/election/"+name)
	if err := el.Campaign(ctx, "leader"); err != nil {
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
	if ctx.Err() == nil {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		el.Resign(rctx)
		rcancel()
	}
	if err == context.Canceled {
		return nil
	}
	return err
}
