package redis

import (
	"fmt"
	"strings"
)

// Redact returns url with its secrets replaced by "xxxxx", for logs, errors
// and banners: the password of its user info (all of the user info when it
// has no ":", since a lone name there is often a password: redis://secret@host),
// and the values of query parameters whose name holds "pass", "secret",
// "token" or "auth". It never fails: a malformed URL is redacted as far as
// it can be read, erring on the side of hiding more.
func Redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		if at := strings.LastIndex(url, "@"); at >= 0 {
			return "xxxxx@" + url[at+1:]
		}
		return url
	}
	out := scheme + "://"
	// The last "@" ends the user info even when a malformed password holds
	// one; an "@" further on (in the query) only hides more.
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if user, _, hasPass := strings.Cut(rest[:at], ":"); hasPass {
			out += user + ":xxxxx@"
		} else {
			out += "xxxxx@"
		}
		rest = rest[at+1:]
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		params := strings.Split(rest[q+1:], "&")
		for i, p := range params {
			if k, _, ok := strings.Cut(p, "="); ok && secretParam(k) {
				params[i] = k + "=xxxxx"
			}
		}
		rest = rest[:q+1] + strings.Join(params, "&")
	}
	return out + rest
}

func secretParam(name string) bool {
	name = strings.ToLower(name)
	for _, s := range []string{"pass", "secret", "token", "auth"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// urlError reports a URL that go-redis could not parse. Its parse errors
// quote the URL or parts of it, password included, escaped in ways no
// search-and-replace can follow (a password with a quote or a backslash, a
// bad %-escape's bytes), so for a URL with secrets the error text is never
// used: the URL is shown redacted, with a generic reason. The cause is not
// wrapped (there is nothing in it to match with errors.Is).
func urlError(url string, err error) error {
	if red := Redact(url); red != url {
		return fmt.Errorf("redis store: URL %s: malformed URL; is the password percent-encoded?", red)
	}
	return fmt.Errorf("redis store: URL %s: %s", url, err)
}
