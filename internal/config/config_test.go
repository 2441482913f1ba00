package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
)

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "spinel.yaml")
	os.WriteFile(file, []byte("listen: 1.1.1.1:1\ndata-dir: /from/file\nlog-level: debug\nports: [a, b]\n"), 0o600)
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	listen := fs.String("listen", "default", "")
	dataDir := fs.String("data-dir", "default", "")
	level := fs.String("log-level", "info", "")
	ports := fs.StringSlice("ports", nil, "")
	other := fs.String("other", "default", "")
	if err := fs.Parse([]string{"--listen", "2.2.2.2:2"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SPINEL_DATA_DIR", "/from/env")
	if err := Apply(fs, file); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, want string }{
		{*listen, "2.2.2.2:2"}, {*dataDir, "/from/env"}, {*level, "debug"}, {*other, "default"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if len(*ports) != 2 || (*ports)[1] != "b" {
		t.Errorf("ports = %v", *ports)
	}
}

func TestUnknownKeyRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("listn: x\n"), 0o600)
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("listen", "", "")
	if err := Apply(fs, file); err == nil {
		t.Fatal("unknown key accepted")
	}
}
