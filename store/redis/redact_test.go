package redis_test

import (
	"strings"
	"testing"

	redisstore "github.com/skewfree/skewfree/store/redis"
)

func TestRedact(t *testing.T) {
	tests := []struct{ url, want string }{
		{"redis://user:secret@host:6379/0", "redis://user:xxxxx@host:6379/0"},
		{"redis://:secret@host", "redis://:xxxxx@host"},
		{"redis://secret@host", "redis://xxxxx@host"},
		{"rediss+cluster://u:secret@h1:1?addr=h2:2&password=secret", "rediss+cluster://u:xxxxx@h1:1?addr=h2:2&password=xxxxx"},
		{"redis://u:se@cr:et@host:badport", "redis://u:xxxxx@host:badport"},
		{"redis://host:6379?client_name=a&auth_token=secret", "redis://host:6379?client_name=a&auth_token=xxxxx"},
		{"u:secret@host", "xxxxx@host"},
		{"redis://127.0.0.1:6379", "redis://127.0.0.1:6379"},
	}
	for _, tc := range tests {
		if got := redisstore.Redact(tc.url); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

// TestNewClientErrorsHideSecret: a URL go-redis cannot parse is named in
// the error, but never with its password (url.Parse's own error quotes the
// whole URL).
func TestNewClientErrorsHideSecret(t *testing.T) {
	for _, url := range []string{
		"redis://user:secret@host:badport",
		"redis://user:sec%zzret@host",
		"redis+cluster://user:secret@host:badport",
		"redis://user:secret@host:6379/notadb",
		"user:secret@host:6379",
		"memcached://user:secret@host",
		`redis://u:p"w%zzsecret@host:6379/0`,
		`redis://u:p\w%zzsecret@host:6379/0`,
		"redis://host:badport/0?password=sec%zzret",
	} {
		_, err := redisstore.NewClient(url)
		if err == nil {
			t.Errorf("%s: no error", url)
			continue
		}
		if strings.Contains(err.Error(), "sec") || strings.Contains(err.Error(), "%zz") || strings.Contains(err.Error(), "p\"w") {
			t.Errorf("%s: error shows the password: %v", url, err)
		}
		if !strings.Contains(err.Error(), "host") {
			t.Errorf("%s: error does not name the URL: %v", url, err)
		}
	}
}

// A URL without secrets keeps go-redis's reason.
func TestNewClientErrorKeepsReasonWithoutSecret(t *testing.T) {
	_, err := redisstore.NewClient("redis://host:6379/notadb")
	if err == nil || !strings.Contains(err.Error(), "notadb") {
		t.Fatalf("err %v, want go-redis's reason naming the bad database", err)
	}
}
