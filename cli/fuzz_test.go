package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// The definition loader never panics on a file, and what it accepts is valid.
func FuzzLoadDefinitions(f *testing.F) {
	f.Add([]byte("id: nginx-svc\nimage:\n  name: nginx:alpine\n  internalPorts: [80]\n"))
	f.Add([]byte("id: a\nrepository: {url: https://x/y.git, internalPorts: [3000]}\n---\nid: b\nimage: {name: x, internalPorts: [1]}\n"))
	f.Add([]byte(`{"id": "j", "image": {"name": "n", "internalPorts": [80]}}`))
	f.Add([]byte("id: [1]\n&a x: *a\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "def.yaml")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		defs, err := loadDefinitions(p)
		if err == nil && len(defs) == 0 {
			t.Fatal("no error and no definitions")
		}
	})
}
