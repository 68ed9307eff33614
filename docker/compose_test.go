// Package docker holds the files of the container images (Dockerfile and compose.yaml are
// at the repository's root): the testnet nodes' entrypoint and an example batch. Its test
// checks the compose file's shape without a Docker engine.
package docker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// compose is the part of the compose file format that the testnet uses.
type compose struct {
	Name     string `yaml:"name"`
	Services map[string]struct {
		Build struct {
			Context string `yaml:"context"`
			Target  string `yaml:"target"`
		} `yaml:"build"`
		Image     string            `yaml:"image"`
		Command   []string          `yaml:"command"`
		DependsOn []string          `yaml:"depends_on"`
		Env       map[string]string `yaml:"environment"`
		Volumes   []string          `yaml:"volumes"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestComposeTestnet(t *testing.T) {
	b, err := os.ReadFile("../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("compose.yaml is not YAML: %v", err)
	}
	dockerfile, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Services) != 5 {
		t.Fatalf("%d services, want 5 (a bootstrap node and four peers)", len(c.Services))
	}
	dataVolumes := map[string]string{}
	for name, s := range c.Services {
		if !regexp.MustCompile(`(?m)^FROM \S+ AS `+regexp.QuoteMeta(s.Build.Target)+`$`).Match(dockerfile) || s.Build.Context != "." {
			t.Errorf("%s: build target %q in context %q is not a stage of ../Dockerfile", name, s.Build.Target, s.Build.Context)
		}
		if s.Env["ALLFORONE_SWARM"] == "" {
			t.Errorf("%s: no ALLFORONE_SWARM", name)
		}
		for _, v := range s.Volumes {
			src, dst, _ := strings.Cut(v, ":")
			dst, _, _ = strings.Cut(dst, ":")
			switch {
			case strings.HasPrefix(src, "./"):
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("%s: bind mount %s: %v", name, src, err)
				}
			case c.Volumes == nil || !hasKey(c.Volumes, src):
				t.Errorf("%s: volume %q is not declared under volumes", name, src)
			}
			if dst == "/data" {
				if other, ok := dataVolumes[src]; ok {
					t.Errorf("%s and %s share the data volume %s", name, other, src)
				}
				dataVolumes[src] = name
			}
		}
		role := strings.Join(s.Command, " ")
		switch {
		case name == "boot" && role != "bootstrap":
			t.Errorf("boot runs %q, want bootstrap", role)
		case name != "boot" && (role != "peer" || !slices.Equal(s.DependsOn, []string{"boot"})):
			t.Errorf("%s runs %q after %v, want peer after [boot]", name, role, s.DependsOn)
		}
	}
	if len(dataVolumes) != 5 {
		t.Errorf("data volumes %v, want one per node", dataVolumes)
	}
}

func TestEntrypointAndBatchExist(t *testing.T) {
	fi, err := os.Stat("testnet-node.sh")
	if err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("testnet-node.sh must exist and be executable: %v, %v", fi.Mode(), err)
	}
	var batch struct {
		Module string `json:"module"`
	}
	b, err := os.ReadFile(filepath.Join("batches", "mandelbrot.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &batch); err != nil {
		t.Fatal(err)
	}
	// In the containers batches/ and wasm/ sit side by side under /examples.
	if want := "../wasm/mandelbrot.wasm"; batch.Module != want {
		t.Fatalf("batch module %q, want %q", batch.Module, want)
	}
	if _, err := os.Stat("../tasks/examples/wasm/mandelbrot.wasm"); err != nil {
		t.Fatal(err)
	}
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }
