package neutron

import (
	"fmt"
	"net/http"
	"testing"
)

func TestAsUnwraps(t *testing.T) {
	err := fmt.Errorf("creating port: %w", ResourceNotFound("network", "n1"))
	e, ok := As(err)
	if !ok || e.Status != http.StatusNotFound || e.Type != "NetworkNotFound" {
		t.Fatalf("As(%v) = %+v, %v", err, e, ok)
	}
	if !IsType(err, "NetworkNotFound") || IsType(err, "PortNotFound") {
		t.Fatal("IsType mismatch")
	}
	if _, ok := As(fmt.Errorf("plain")); ok {
		t.Fatal("plain error must not be a Neutron error")
	}
}
