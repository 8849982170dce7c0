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
// quote the whole URL, password included, so the cause is kept only as
// redacted text, not wrapped (there is nothing in it to match with
// errors.Is).
func urlError(url string, err error) error {
	msg := strings.ReplaceAll(err.Error(), url, Redact(url))
	// What is left of a secret, e.g. when the error quotes a part of it.
	if red := Redact(url); red != url {
		for _, secret := range secretsOf(url) {
			if len(secret) >= 3 {
				msg = strings.ReplaceAll(msg, secret, "xxxxx")
			}
		}
	}
	return fmt.Errorf("redis store: URL %s: %s", Redact(url), msg)
}

// secretsOf returns the substrings of url that Redact hides.
func secretsOf(url string) []string {
	var out []string
	_, rest, ok := strings.Cut(url, "://")
	if !ok {
		rest = url
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user, pass, hasPass := strings.Cut(rest[:at], ":")
		if hasPass {
			out = append(out, pass)
		} else {
			out = append(out, user)
		}
		rest = rest[at+1:]
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		for _, p := range strings.Split(rest[q+1:], "&") {
			if k, v, ok := strings.Cut(p, "="); ok && secretParam(k) {
				out = append(out, v)
			}
		}
	}
	return out
}
