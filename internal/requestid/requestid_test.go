package requestid

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestHandlerAddsRequestID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewTextHandler(&buf, nil)))
	id := New()
	if !strings.HasPrefix(id, "req-") || len(id) != len("req-")+36 {
		t.Fatalf("id %q", id)
	}
	ctx := With(context.Background(), id)
	if From(ctx) != id || From(context.Background()) != "" {
		t.Fatal("From")
	}

	log.InfoContext(ctx, "with context", "k", 1)
	log.Info("without context")
	log.With("request_id", id).InfoContext(ctx, "already tagged")
	log.With("component", "x").WarnContext(ctx, "derived logger")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("lines: %q", lines)
	}
	for i, want := range []int{1, 0, 1, 1} {
		if n := strings.Count(lines[i], "request_id="+id); n != want {
			t.Errorf("line %q: request_id %d times, want %d", lines[i], n, want)
		}
	}
	if Handler(log.Handler()) != log.Handler() {
		t.Error("double wrapping")
	}
}
