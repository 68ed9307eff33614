package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// noValue is how Format prints an empty list.
const noValue = "(none)"

// field is the setting's field in c.
func (k Key) field(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(k.index)
}

// Value is the setting's value in c as JSON, as config.json has it.
func (k Key) Value(c Config) json.RawMessage {
	b, err := json.Marshal(k.field(&c).Interface())
	if err != nil { // strings, numbers, bools, durations and string lists always marshal
		panic(fmt.Sprintf("node: marshal config key %s: %v", k.Key, err))
	}
	return b
}

// Format is the setting's value in c for people: text as it is (`""` when empty),
// durations without zero units ("10m", not "10m0s"), lists comma-separated.
func (k Key) Format(c Config) string {
	v := k.field(&c)
	switch k.kind {
	case KindString:
		if v.String() == "" {
			return `""`
		}
		return v.String()
	case KindInt:
		return strconv.FormatInt(v.Int(), 10)
	case KindBool:
		return strconv.FormatBool(v.Bool())
	case KindDuration:
		return formatDuration(time.Duration(v.Int()))
	case KindList:
		if v.Len() == 0 {
			return noValue
		}
		return strings.Join(v.Interface().([]string), ", ")
	}
	return ""
}

// formatDuration is d without zero minutes and seconds: 1h, 10m, 1m30s, 1h30m.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Parse reads a value of the setting as `config set` takes it: text as it is, a whole
// number, true or false, a duration like 30s, or a list (comma-separated, or a JSON array
// of strings; empty: none). It returns a value that Set takes.
func (k Key) Parse(text string) (any, error) {
	switch k.kind {
	case KindString:
		return text, nil
	case KindInt:
		n, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("%s takes a whole number, not %q: e.g. %s", k.Key, text, k.Example)
		}
		return n, nil
	case KindBool:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("%s takes true or false, not %q", k.Key, text)
		}
		return b, nil
	case KindDuration:
		d, err := time.ParseDuration(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("%s takes a duration with a unit (ms, s, m, h), not %q: e.g. %s", k.Key, text, k.Example)
		}
		return d, nil
	case KindList:
		var list []string
		switch t := strings.TrimSpace(text); {
		case strings.HasPrefix(t, "["):
			if err := json.Unmarshal([]byte(t), &list); err != nil {
				return nil, fmt.Errorf("%s: %q is not a JSON list of strings (%v): or give the values comma-separated", k.Key, text, err)
			}
		case t != "":
			for _, s := range strings.Split(t, ",") {
				if s = strings.TrimSpace(s); s != "" {
					list = append(list, s)
				}
			}
		}
		return list, nil
	}
	return nil, fmt.Errorf("%s cannot be set from the command line: edit config.json", k.Key)
}

// Set puts v into the setting's field of c without validating c: a string, an int, a bool,
// a time.Duration (or Duration) or a []string after the setting's Kind, as Parse returns
// them and as the flags of init and daemon hold them.
func (k Key) Set(c *Config, v any) error {
	f := k.field(c)
	switch x := v.(type) {
	case string:
		if k.kind == KindString {
			f.SetString(x)
			return nil
		}
	case int:
		if k.kind == KindInt {
			f.SetInt(int64(x))
			return nil
		}
	case int64:
		if k.kind == KindInt {
			f.SetInt(x)
			return nil
		}
	case bool:
		if k.kind == KindBool {
			f.SetBool(x)
			return nil
		}
	case time.Duration:
		if k.kind == KindDuration {
			f.SetInt(int64(x))
			return nil
		}
	case Duration:
		if k.kind == KindDuration {
			f.SetInt(int64(x))
			return nil
		}
	case []string:
		if k.kind == KindList {
			f.Set(reflect.ValueOf(slices.Clone(x)))
			return nil
		}
	}
	return fmt.Errorf("config key %s takes a %s, not %T", k.Key, k.kind, v)
}

// Value returns the value of key (as Lookup takes it) in c as JSON.
func Value(c Config, key string) (json.RawMessage, error) {
	k, err := Lookup(key)
	if err != nil {
		return nil, err
	}
	return k.Value(c), nil
}

// SetValue sets key in c to value, parsed after the key's kind (Key.Parse). It
// validates the result and changes c only when it is valid.
func SetValue(c *Config, key, value string) error {
	return SetValues(c, [2]string{key, value})
}

// SetValues sets several keys at once, each pair a key and its value as
// SetValue takes them, and validates the result once: settings that are only valid
// together (api_tls_cert and api_tls_key) can be set in one step. c changes only when all
// values parse and the result is valid.
func SetValues(c *Config, pairs ...[2]string) error {
	next := *c // Set replaces a list whole, so c's lists stay as they are
	for _, kv := range pairs {
		k, err := Lookup(kv[0])
		if err != nil {
			return err
		}
		v, err := k.Parse(kv[1])
		if err != nil {
			return err
		}
		if err := k.Set(&next, v); err != nil {
			return err
		}
	}
	if err := next.Validate(); err != nil {
		return err
	}
	*c = next
	return nil
}
