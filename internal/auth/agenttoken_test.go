package auth

import "testing"

func TestAgentTokens(t *testing.T) {
	a := AgentTokens{Secret: []byte("s")}
	tok := a.Issue("hv1.example")
	if h, err := a.Verify(tok); err != nil || h != "hv1.example" {
		t.Fatalf("Verify(Issue) = %q, %v", h, err)
	}
	other := a.Issue("hv2")
	for _, bad := range []string{"", "hv1", "hv1.", ".x", tok + "x", "hv2." + tok[len("hv1.example."):], other[:len(other)-1]} {
		if _, err := a.Verify(bad); err == nil {
			t.Errorf("Verify(%q) accepted", bad)
		}
	}
	if _, err := (AgentTokens{}).Verify(tok); err == nil {
		t.Error("a server without a secret accepted a token")
	}
	if _, err := (AgentTokens{Secret: []byte("other")}).Verify(tok); err == nil {
		t.Error("token accepted under another secret")
	}
}
