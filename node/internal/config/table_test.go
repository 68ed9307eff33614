package config

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// configJSONKeys walks t's json tags as config.json has them: nested objects (prefs, nat)
// as "prefs.<name>", fields tagged "-" left out.
func configJSONKeys(t *testing.T, typ reflect.Type, prefix string) []string {
	var keys []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, ok := f.Tag.Lookup("json")
		name, _, _ := strings.Cut(tag, ",")
		switch {
		case !ok || name == "":
			t.Errorf("field %s%s has no json tag: name its config.json key, or tag it \"-\"", prefix, f.Name)
			continue
		case name == "-":
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, configJSONKeys(t, f.Type, prefix+name+".")...)
			continue
		}
		keys = append(keys, prefix+name)
	}
	return keys
}

// The table names every key of config.json once, and nothing else; its sections are
// contiguous (config show prints each heading once); a setting is live exactly when it
// is a preference, which ReloadPrefs reloads.
func TestConfigKeysNameEveryJSONKey(t *testing.T) {
	want := configJSONKeys(t, reflect.TypeFor[Config](), "")
	var got []string
	seen := map[string]bool{}
	flags := map[string]string{}
	var sections []string
	for _, k := range Keys() {
		if seen[k.Key] {
			t.Errorf("key %s is in the table twice", k.Key)
		}
		seen[k.Key] = true
		got = append(got, k.Key)
		if k.Flag != "" {
			if other, dup := flags[k.Flag]; dup {
				t.Errorf("flag --%s is named by %s and %s", k.Flag, other, k.Key)
			}
			flags[k.Flag] = k.Key
			if k.Env() != "ALLFORONE_"+strings.ToUpper(strings.ReplaceAll(k.Flag, "-", "_")) {
				t.Errorf("%s: env twin %q", k.Key, k.Env())
			}
		} else if k.Env() != "" {
			t.Errorf("%s has no flag but an env twin %q", k.Key, k.Env())
		}
		if len(sections) == 0 || sections[len(sections)-1] != k.Section {
			if slices.Contains(sections, k.Section) {
				t.Errorf("key %s: section %q is split; keep its keys together", k.Key, k.Section)
			}
			sections = append(sections, k.Section)
		}
		short := strings.TrimPrefix(strings.TrimPrefix(k.Key, "prefs."), "nat.")
		if got, err := Lookup(short); err != nil || got.Key != k.Key {
			t.Errorf("the short name %q resolves to %q (%v), not to %s: rename one of the keys", short, got.Key, err, k.Key)
		}
		if live := strings.HasPrefix(k.Key, "prefs."); k.Live != live {
			t.Errorf("key %s: Live=%v, but ReloadPrefs reloads exactly the prefs.* keys", k.Key, k.Live)
		}
		if k.Doc == "" || strings.Contains(k.Doc, "`") || strings.Contains(k.Doc, "default") {
			t.Errorf("key %s: doc %q: say what it does and its unit, without backticks (flag help takes them as a placeholder) and without the default (DefaultText adds it)", k.Key, k.Doc)
		}
	}
	for _, k := range want {
		if !seen[k] {
			t.Errorf("config.json key %s is not in node/internal/config/keys.go: add it, so config show documents it and config set takes it", k)
		}
	}
	for _, k := range got {
		if !slices.Contains(want, k) {
			t.Errorf("table key %s is no json key of Config", k)
		}
	}
	if want := []string{SectionNetwork, SectionAPI, SectionPrefs, SectionUpkeep, SectionNAT}; !slices.Equal(sections, want) {
		t.Errorf("sections %q, want %q", sections, want)
	}
}

// configSetPartners are keys that are only valid together: config set takes them in one call.
var configSetPartners = map[string]string{"api_tls_cert": "api_tls_key", "api_tls_key": "api_tls_cert"}

// Every key of config.json can be set with config set (its example, which differs from
// the default) and reads back, from the Config and from the saved config.json; no
// other key changes.
func TestEveryConfigKeyCanBeSet(t *testing.T) {
	keys := configJSONKeys(t, reflect.TypeFor[Config](), "")
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			k, err := Lookup(key)
			if err != nil {
				t.Fatal(err)
			}
			c := Default(t.TempDir())
			before := c
			pairs := [][2]string{{key, k.Example}}
			if p, ok := configSetPartners[key]; ok {
				pk, _ := Lookup(p)
				pairs = append(pairs, [2]string{p, pk.Example})
			}
			if err := SetValues(&c, pairs...); err != nil {
				t.Fatalf("config set %s %q: %v", key, k.Example, err)
			}
			want := exampleJSON(t, k)
			if v, _ := Value(c, key); !bytes.Equal(v, want) {
				t.Errorf("read back %s = %s, want %s", key, v, want)
			}
			if bytes.Equal(k.Value(before), want) {
				t.Errorf("example %q of %s is its default already: choose one that shows a change", k.Example, key)
			}
			if err := c.Save(); err != nil {
				t.Fatal(err)
			}
			loaded, err := Load(c.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := Value(loaded, key); !bytes.Equal(v, want) {
				t.Errorf("config.json has %s = %s, want %s", key, v, want)
			}
			for _, o := range Keys() {
				if o.Key == key || o.Key == configSetPartners[key] {
					continue
				}
				if a, b := o.Value(before), o.Value(loaded); !bytes.Equal(a, b) {
					t.Errorf("setting %s changed %s from %s to %s", key, o.Key, a, b)
				}
			}
		})
	}
}

// exampleJSON is the JSON form of k's example: what Value should say after it is set.
func exampleJSON(t *testing.T, k Key) json.RawMessage {
	t.Helper()
	v, err := k.Parse(k.Example)
	if err != nil {
		t.Fatalf("example of %s: %v", k.Key, err)
	}
	if d, ok := v.(time.Duration); ok {
		v = Duration(d)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Parse and Format per kind, Set refusing a value of another kind, and the defaults in words.
func TestConfigKeyParseFormat(t *testing.T) {
	c := Default("/x")
	for _, tc := range []struct{ key, format, def string }{
		{"routing_refresh", "10m", "10m"},
		{"blob_grace", "1h", "1h"},
		{"prefs.retention", "72h", "72h"},
		{"bootstrap", noValue, "none"},
		{"swarm_key_file", `""`, "empty"},
		{"slots", "", "CPU cores - 1, at least 1"},
		{"nat.relay_service", "true", "true"},
		{"conn_high", "128", "128"},
	} {
		k, err := Lookup(tc.key)
		if err != nil {
			t.Fatal(err)
		}
		if got := k.Format(c); tc.format != "" && got != tc.format {
			t.Errorf("Format(%s) = %q, want %q", tc.key, got, tc.format)
		}
		if got := k.DefaultText(); got != tc.def {
			t.Errorf("DefaultText(%s) = %q, want %q", tc.key, got, tc.def)
		}
	}
	if got := formatDuration(90 * time.Minute); got != "1h30m" {
		t.Errorf("formatDuration(90m) = %q", got)
	}
	if got := formatDuration(1500 * time.Millisecond); got != "1.5s" {
		t.Errorf("formatDuration(1.5s) = %q", got)
	}
	k, _ := Lookup("listen")
	for text, want := range map[string][]string{
		"/ip4/127.0.0.1/tcp/1, /ip4/127.0.0.1/tcp/2": {"/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/tcp/2"},
		`["/ip4/127.0.0.1/tcp/3"]`:                   {"/ip4/127.0.0.1/tcp/3"},
		" ":                                          nil,
	} {
		if v, err := k.Parse(text); err != nil || !slices.Equal(v.([]string), want) {
			t.Errorf("Parse(listen, %q) = %v, %v; want %v", text, v, err, want)
		}
	}
	if err := k.Set(&c, "one"); err == nil || !strings.Contains(err.Error(), "takes a list") {
		t.Errorf("Set(listen, a string) = %v, want an error naming the kind", err)
	}
	slots, _ := Lookup("slots")
	if _, err := slots.Parse("3.5"); err == nil || !strings.Contains(err.Error(), "e.g. 3") {
		t.Errorf("Parse(slots, 3.5) = %v, want a whole-number error with an example", err)
	}
	grace, _ := Lookup("blob_grace")
	if _, err := grace.Parse("30"); err == nil || !strings.Contains(err.Error(), "unit") {
		t.Errorf("Parse(blob_grace, 30) = %v, want an error asking for a unit", err)
	}
}

// The TLS pair is set in one call; set alone, either is refused with what to do.
func TestSetConfigValuesTogether(t *testing.T) {
	c := Test(t.TempDir())
	err := SetValue(&c, "api_tls_cert", "api.crt")
	if err == nil || !strings.Contains(err.Error(), "config set api_tls_cert FILE api_tls_key FILE") {
		t.Fatalf("set api_tls_cert alone: %v, want an error saying to set both at once", err)
	}
	if c.APITLSCert != "" {
		t.Fatal("a refused set changed the config")
	}
	if err := SetValues(&c, [2]string{"api_tls_cert", "api.crt"}, [2]string{"api_tls_key", "api.key"}); err != nil {
		t.Fatal(err)
	}
	if c.APITLSCert != "api.crt" || c.APITLSKey != "api.key" {
		t.Fatalf("tls pair = %q, %q", c.APITLSCert, c.APITLSKey)
	}
	if err := SetValues(&c, [2]string{"slots", "4"}, [2]string{"colour", "blue"}); err == nil || c.Slots == 4 {
		t.Fatalf("a set with an unknown key: %v, slots %d; want an error and no change", err, c.Slots)
	}
}

// README's preferences table names the keys of the preferences section with their flags,
// their defaults and whether they apply at restart, as the table here does.
func TestREADMEPreferencesTable(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_.]+)` \\| (`--([a-z-]+)`|—|-)? *\\| ([^|]*) \\| ([^|]*) \\|$")
	rows := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		rows[m[1]] = m
	}
	for _, k := range Keys() {
		if k.Section != SectionPrefs {
			continue
		}
		m, ok := rows[k.ShortKey()]
		if !ok {
			t.Errorf("README's preferences table has no row for %s", k.ShortKey())
			continue
		}
		if m[3] != k.Flag {
			t.Errorf("README: %s has flag %q, the table says %q", k.ShortKey(), m[3], k.Flag)
		}
		if def := strings.TrimSpace(m[4]); k.Default == "" && def != k.DefaultText() {
			t.Errorf("README: %s defaults to %q, the table says %q", k.ShortKey(), def, k.DefaultText())
		}
		if restart := strings.Contains(m[5], "at restart"); restart == k.Live {
			t.Errorf("README: %s says \"at restart\"=%v, but Live=%v", k.ShortKey(), restart, k.Live)
		}
	}
}
