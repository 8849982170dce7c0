package main

import (
	"strings"
	"testing"

	"github.com/skewfree/skewfree/internal/fakegcs"
)

// The push service writes pushed events where batch windows and training
// sets read them: a gs:// source root is opened on Cloud Storage (honoring
// STORAGE_EMULATOR_HOST), a missing bucket is named, and a path stays local.
func TestOpenSources(t *testing.T) {
	srv, err := fakegcs.Start("raw-bucket")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	t.Setenv("STORAGE_EMULATOR_HOST", srv.Host())
	tests := []struct {
		url, root, err string
	}{
		{url: "gs://raw-bucket/raw", root: "gs://raw-bucket/raw"},
		{url: "gs://no-such-bucket/raw", err: "no-such-bucket"},
		{url: t.TempDir(), root: "/"},
	}
	for _, tc := range tests {
		s, err := openSources(tc.url)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one naming %s", tc.url, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if !strings.HasPrefix(s.Root(), tc.root) {
			t.Errorf("%s: root %q, want prefix %q", tc.url, s.Root(), tc.root)
		}
	}
}
