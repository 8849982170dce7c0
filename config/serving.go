package config

import (
	"fmt"
	"os"
	"time"
)

// Settings of the reader service's catalog: which registry it serves and
// how often it looks for a newly published catalog.
const (
	EnvServingRegistry = "SKEWFREE_SERVING_REGISTRY"
	EnvCatalogPoll     = "SKEWFREE_CATALOG_POLL"
)

// Registries the reader service can serve.
const (
	// RegistryPublished is the catalog `starter apply` published in the
	// online store under the project's prefix, followed while serving.
	RegistryPublished = "published"
	// RegistryDemo is the demo repository compiled into the binary (dev).
	RegistryDemo = "demo"
)

// DefaultCatalogPoll is how often the reader service reads the published
// catalog's pointer.
const DefaultCatalogPoll = 5 * time.Second

// ServingCatalog says which registry the reader service serves.
type ServingCatalog struct {
	Registry string        // SKEWFREE_SERVING_REGISTRY: published (default) or demo
	Poll     time.Duration // SKEWFREE_CATALOG_POLL: default 5s
}

// ServingCatalogFromEnv reads SKEWFREE_SERVING_REGISTRY and
// SKEWFREE_CATALOG_POLL, filling defaults; a poll interval that is not a
// positive duration is an error naming the variable (the defaults are
// returned with it, for a flag to override). Call Validate once flags are
// applied. getenv is os.Getenv when nil.
func ServingCatalogFromEnv(getenv func(string) string) (ServingCatalog, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := ServingCatalog{Registry: getenv(EnvServingRegistry), Poll: DefaultCatalogPoll}
	if c.Registry == "" {
		c.Registry = RegistryPublished
	}
	if v := getenv(EnvCatalogPoll); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("%s=%q: want a positive duration such as 5s", EnvCatalogPoll, v)
		}
		c.Poll = d
	}
	return c, nil
}

// Validate reports settings that cannot work.
func (c ServingCatalog) Validate() error {
	if c.Registry != RegistryPublished && c.Registry != RegistryDemo {
		return fmt.Errorf("serving registry %q unknown (want %s or %s)", c.Registry, RegistryPublished, RegistryDemo)
	}
	if c.Poll <= 0 {
		return fmt.Errorf("catalog poll interval %s: want a positive duration", c.Poll)
	}
	return nil
}
