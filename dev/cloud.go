package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/skewfree/skewfree/dev/sample"
	"github.com/skewfree/skewfree/internal/fakegcs"
)

// devBucket is the fake Cloud Storage bucket of `dev -cloud`.
const devBucket = "skewfree-dev"

// startCloud starts the fake Cloud Storage of `dev -cloud`, keeping its
// objects under dir, and points this process's Google clients at it through
// STORAGE_EMULATOR_HOST, as a user's shell would: the stores then open
// gs:// locations exactly as on Google Cloud.
func startCloud(dir string, log *slog.Logger) (*fakegcs.Server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	gcs, err := fakegcs.StartIn(dir, devBucket)
	if err != nil {
		return nil, err
	}
	if err := os.Setenv("STORAGE_EMULATOR_HOST", gcs.Host()); err != nil {
		gcs.Stop()
		return nil, err
	}
	log.Info("fake Cloud Storage", "bucket", "gs://"+devBucket, "STORAGE_EMULATOR_HOST", gcs.Host(), "objects", dir)
	return gcs, nil
}

// trainingSetCommand is sample.TrainingSetCommand reading the stack's
// offline store, on the fake Cloud Storage when emulator is set.
func trainingSetCommand(state, offline, emulator string) string {
	cmd := sample.TrainingSetCommand(state)
	if emulator == "" {
		return cmd
	}
	i := strings.LastIndex(cmd, "--offline ")
	return fmt.Sprintf("STORAGE_EMULATOR_HOST=%s %s--offline %s", emulator, cmd[:i], offline)
}
