package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// envVar is one environment variable that overrides one scalar key.
type envVar struct {
	// name is the variable, such as SIGNOFF_LOGOUT_WAIT.
	name string
	// key is the YAML path, such as logout.wait.
	key string
	// index leads from Config to the field, for reflect.Value.FieldByIndex.
	index []int
}

var durationType = reflect.TypeFor[time.Duration]()

// EnvKeys returns the name of every environment variable that overrides a
// configuration key, in the order of the keys in Config. SIGNOFF_CONFIG
// (EnvConfigFile), which names the file, is not among them.
func EnvKeys() []string {
	vars := envVars()
	names := make([]string, len(vars))
	for i, v := range vars {
		names[i] = v.name
	}
	return names
}

// UnknownEnv returns the variables of environ (KEY=value, as os.Environ
// gives them) that start with SIGNOFF_ and that signoff does not read: a
// misspelled key (SIGNOFF_LOGOUT_WIAT), which would otherwise be ignored
// without a word.
func UnknownEnv(environ []string) []string {
	known := map[string]bool{EnvConfigFile: true, EnvDebugPprof: true}
	for _, name := range EnvKeys() {
		known[name] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) && !known[name] {
			out = append(out, name)
		}
	}
	return out
}

// envVars derives the variables from Config's yaml tags, so that a new key
// gets its variable without further code. Lists of structs (clients) have
// none.
func envVars() []envVar {
	var vars []envVar
	var walk func(t reflect.Type, keys []string, index []int)
	walk = func(t reflect.Type, keys []string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" {
				continue
			}
			k := append(keys[:len(keys):len(keys)], name)
			idx := append(index[:len(index):len(index)], i)
			switch {
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, k, idx)
			case envSettable(f.Type):
				vars = append(vars, envVar{
					name:  EnvPrefix + strings.ToUpper(strings.Join(k, "_")),
					key:   strings.Join(k, "."),
					index: idx,
				})
			}
		}
	}
	walk(reflect.TypeFor[Config](), nil, nil)
	return vars
}

// yamlName returns the key of a struct field in YAML, or "" for a field that
// YAML skips.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return ""
	case "":
		return strings.ToLower(f.Name)
	}
	return name
}

// envSettable reports whether a field of type t can be set from one
// environment variable.
func envSettable(t reflect.Type) bool {
	if t == durationType {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int:
		return true
	case reflect.Pointer:
		return t.Elem().Kind() == reflect.Bool
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

// applyEnv overrides c's keys with the variables that getenv returns as
// non-empty. Every bad value is reported, each naming its variable.
func applyEnv(c *Config, getenv func(string) string) error {
	root := reflect.ValueOf(c).Elem()
	var errs []error
	for _, v := range envVars() {
		raw := getenv(v.name)
		if raw == "" {
			continue
		}
		if err := setFromEnv(root.FieldByIndex(v.index), raw); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", v.name, v.key, err))
		}
	}
	return errors.Join(errs...)
}

// setFromEnv parses raw into the field f, whose type envSettable accepts.
func setFromEnv(f reflect.Value, raw string) error {
	if f.Type() == durationType {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("parsing a duration such as 2s or 24h: %w", err)
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(raw)
	case reflect.Bool, reflect.Pointer:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("parsing a boolean: %w", err)
		}
		if f.Kind() == reflect.Pointer {
			f.Set(reflect.ValueOf(&b))
		} else {
			f.SetBool(b)
		}
	case reflect.Int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("parsing an integer: %w", err)
		}
		f.SetInt(int64(n))
	case reflect.Slice:
		f.Set(reflect.ValueOf(splitList(raw)))
	default:
		return fmt.Errorf("type %s cannot be set from the environment", f.Type())
	}
	return nil
}

// splitList splits a comma-separated list, trimming blanks around items and
// dropping empty ones.
func splitList(raw string) []string {
	var items []string
	for item := range strings.SplitSeq(raw, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}
