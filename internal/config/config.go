// Package config fills a command's flags from, in order of precedence, the
// command line, SPINEL_* environment variables and an optional YAML file
// whose keys are the flag names. Defaults come last.
package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// EnvName is the environment variable of a flag: SPINEL_ and the flag's
// name in upper case with dashes as underscores (--data-dir: SPINEL_DATA_DIR).
func EnvName(flag string) string {
	return "SPINEL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Apply sets every flag not given on the command line from the environment
// or, failing that, from the YAML file at path (if path is not empty).
// Unknown keys in the file are an error, so typos do not pass silently.
func Apply(fs *pflag.FlagSet, path string) error {
	file := map[string]any{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if err := yaml.Unmarshal(data, &file); err != nil {
			return fmt.Errorf("config: parsing %s: %w", path, err)
		}
		for k := range file {
			if fs.Lookup(k) == nil {
				return fmt.Errorf("config: %s: unknown setting %q", path, k)
			}
		}
	}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("config: %s=%q: %w", EnvName(f.Name), v, e)
			}
			return
		}
		v, ok := file[f.Name]
		if !ok {
			return
		}
		for _, s := range yamlStrings(v) {
			if e := fs.Set(f.Name, s); e != nil {
				err = fmt.Errorf("config: %s: %s: %w", path, f.Name, e)
				return
			}
		}
	})
	return err
}

// yamlStrings renders a YAML value as flag values: lists give one value
// per element (for repeatable flags), maps give k=v pairs.
func yamlStrings(v any) []string {
	switch x := v.(type) {
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return []string{strings.Join(out, ",")}
	case map[string]any:
		var out []string
		for k, e := range x {
			out = append(out, fmt.Sprintf("%s=%v", k, e))
		}
		return []string{strings.Join(out, ",")}
	case nil:
		return nil
	}
	return []string{fmt.Sprint(v)}
}
