// Package requestid carries an API request's id (the value of its
// x-openstack-request-id response header, "req-<uuid>" as in OpenStack) in
// the request's context, and puts it into log lines: a logger built on
// Handler adds request_id to every record logged with such a context
// (slog's *Context methods), whichever layer logs it.
package requestid

import (
	"context"
	"log/slog"

	"github.com/google/uuid"
)

// Key is the log attribute naming the request id.
const Key = "request_id"

// New returns a fresh request id, "req-" and a random UUID.
func New() string { return "req-" + uuid.NewString() }

type ctxKey struct{}

// With returns ctx carrying the request id id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the request id in ctx, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Handler wraps h so that records logged with a context carrying a request
// id get a request_id attribute, unless the logger has one already (from
// With("request_id", ...)).
func Handler(h slog.Handler) slog.Handler {
	if _, ok := h.(*handler); ok {
		return h
	}
	return &handler{h: h}
}

type handler struct {
	h   slog.Handler
	has bool // the logger carries request_id already
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if !h.has && ctx != nil {
		if id := From(ctx); id != "" {
			r = r.Clone()
			r.AddAttrs(slog.String(Key, id))
		}
	}
	return h.h.Handle(ctx, r)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	has := h.has
	for _, a := range attrs {
		has = has || a.Key == Key
	}
	return &handler{h: h.h.WithAttrs(attrs), has: has}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{h: h.h.WithGroup(name), has: h.has}
}
