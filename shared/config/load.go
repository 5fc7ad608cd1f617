package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load returns the configuration made of Default, then the YAML file at path
// (skipped when path is ""), then the SIGNOFF_* variables that getenv
// returns (see EnvKeys; a nil getenv reads none), validated by Validate.
//
// Unknown keys in the file, values of the wrong type in the file or the
// environment, and every problem Validate finds are errors; each names its
// key or variable, and all of a kind are reported together. On error Load
// returns a nil Config.
func Load(path string, getenv func(string) string) (*Config, error) {
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading config file: %w", err)
		}
		if err := decodeYAML(c, data); err != nil {
			return nil, fmt.Errorf("decoding config file %s: %w", path, err)
		}
	}
	if getenv != nil {
		if err := applyEnv(c, getenv); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeYAML decodes one YAML document onto c, which holds the defaults: keys
// the document sets override them, the others stay. An empty document
// changes nothing.
func decodeYAML(c *Config, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return fmt.Errorf("line %d: a second YAML document; the file must hold one", next.Line)
	case !errors.Is(err, io.EOF):
		return err
	}

	// Walk the document first: it reports every unknown key with its full
	// path, and maps lines to keys for the decoder's type errors.
	w := keyWalker{lines: map[int]lineKey{}}
	w.walk(&doc, reflect.TypeFor[Config](), "")
	if len(w.errs) > 0 {
		return errors.Join(w.errs...)
	}

	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(c); err != nil {
		return w.annotate(err)
	}
	return nil
}

// keyWalker checks a YAML node tree against the Go type it decodes into.
type keyWalker struct {
	// lines maps a line to the key whose value starts there: the first
	// key with a scalar value, else the first key with any value.
	lines map[int]lineKey
	// errs are the unknown keys found.
	errs []error
}

// walk checks node n, which decodes into a value of type t at key path.
// Aliases are not followed: their anchors are checked where they are
// defined, and the strict decoder catches the rest.
func (w *keyWalker) walk(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, child := range n.Content {
			w.walk(child, t, path)
		}
	case yaml.MappingNode:
		if t.Kind() != reflect.Struct {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				w.walk(v, t, path)
				continue
			}
			key := joinKey(path, k.Value)
			f, ok := fieldByKey(t, k.Value)
			if !ok {
				w.errs = append(w.errs, fmt.Errorf("%s: unknown key (line %d); %s takes: %s",
					key, k.Line, describe(path), strings.Join(keysOf(t), ", ")))
				continue
			}
			w.mark(v, key)
			w.walk(v, f.Type, key)
		}
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice {
			return
		}
		for i, item := range n.Content {
			key := path + "[" + strconv.Itoa(i) + "]"
			w.mark(item, key)
			w.walk(item, t.Elem(), key)
		}
	}
}

// lineKey is the key that a line of the file is attributed to.
type lineKey struct {
	key    string
	scalar bool
}

// mark attributes the line where v, the value of key, starts to key, unless
// a key with a scalar value already has that line. A scalar beats a mapping
// or list, which starts on the line of its first entry.
func (w *keyWalker) mark(v *yaml.Node, key string) {
	scalar := v.Kind == yaml.ScalarNode
	if old, ok := w.lines[v.Line]; !ok || (scalar && !old.scalar) {
		w.lines[v.Line] = lineKey{key: key, scalar: scalar}
	}
}

// annotate prefixes each of the decoder's "line N: ..." type errors with the
// key whose value is on that line.
func (w *keyWalker) annotate(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	errs := make([]error, 0, len(te.Errors))
	for _, msg := range te.Errors {
		if lk, ok := w.lines[lineOf(msg)]; ok {
			msg = lk.key + ": " + msg
		}
		if strings.HasSuffix(msg, "into time.Duration") {
			msg += " (write a duration with a unit, such as 2s or 24h)"
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...)
}

// lineOf returns N from a yaml.v3 message that starts "line N: ", or 0.
func lineOf(msg string) int {
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return 0
	}
	num, _, _ := strings.Cut(rest, ":")
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0
	}
	return n
}

// fieldByKey returns the field of struct type t whose YAML key is key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); yamlName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// keysOf returns the YAML keys of struct type t, in field order.
func keysOf(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			keys = append(keys, name)
		}
	}
	return keys
}

// joinKey appends key to the dotted path.
func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names the mapping at path in an unknown-key message.
func describe(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}
