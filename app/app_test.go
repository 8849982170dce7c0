package app_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/features/demo"
)

// TestOpenStoresErrorHidesRedisPassword: when Redis does not answer, the
// error names the URL, but never its password.
func TestOpenStoresErrorHidesRedisPassword(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	dir := t.TempDir()
	for _, url := range []string{"redis://user:secret@" + addr + "/0", "redis://user:secret@" + addr + ":bad"} {
		_, err := app.OpenStores(context.Background(), demo.Registry(), app.Config{
			RedisURL: url, Offline: "file://" + dir + "/offline", Source: "file://" + dir + "/raw",
			Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			t.Fatalf("%s: no error", url)
		}
		if strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "user:xxxxx@") {
			t.Errorf("%s: error %q shows the password or not the redacted URL", url, err)
		}
	}
}
