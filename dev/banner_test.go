package main

import (
	"strings"
	"testing"
	"time"
)

func TestBannerHidesRedisPassword(t *testing.T) {
	info := bannerInfo{UI: "http://127.0.0.1:8233", Namespace: "default", Temporal: "127.0.0.1:7233", TaskQueue: "skewfree",
		Serving: "127.0.0.1:6566", Catalog: "127.0.0.1:8788", Offline: "file:///tmp/offline", Users: []string{"u1", "u2"},
		From: time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)}
	for _, tc := range []struct{ url, shown, env string }{
		{"redis://user:secret@redis.internal:6379/0", "redis://user:xxxxx@redis.internal:6379/0", `SKEWFREE_REDIS_URL="$SKEWFREE_REDIS_URL"`},
		{"redis://127.0.0.1:40000", "redis://127.0.0.1:40000", "SKEWFREE_REDIS_URL=redis://127.0.0.1:40000"},
	} {
		info.RedisURL = tc.url
		text := banner(info)
		if strings.Contains(text, "secret") {
			t.Errorf("banner shows the password:\n%s", text)
		}
		if !strings.Contains(text, "Catalog          http://127.0.0.1:8788/") {
			t.Errorf("banner lacks the catalog page:\n%s", text)
		}
		if !strings.Contains(text, "Redis            "+tc.shown+"\n") || !strings.Contains(text, tc.env+" go run ./starter") {
			t.Errorf("banner for %s lacks %q or %q:\n%s", tc.url, tc.shown, tc.env, text)
		}
	}
}

// The banner shows the gRPC address and a grpcurl call when gRPC is on,
// and neither when it is off.
func TestBannerShowsGRPC(t *testing.T) {
	info := bannerInfo{UI: "http://127.0.0.1:8233", Namespace: "default", Temporal: "127.0.0.1:7233", TaskQueue: "skewfree",
		Serving: "127.0.0.1:6566", GRPC: "127.0.0.1:6567", RedisURL: "redis://127.0.0.1:1", Offline: "file:///tmp/offline", Users: []string{"u1", "u2"}}
	text := banner(info)
	for _, want := range []string{"Reader gRPC      127.0.0.1:6567", `{"string_val":"u1"}`, "127.0.0.1:6567 feast.serving.ServingService/GetOnlineFeatures"} {
		if !strings.Contains(text, want) {
			t.Errorf("banner lacks %q:\n%s", want, text)
		}
	}
	info.GRPC = ""
	if text := banner(info); strings.Contains(text, "gRPC") || strings.Contains(text, "grpcurl") {
		t.Errorf("banner with gRPC off mentions it:\n%s", text)
	}
}
