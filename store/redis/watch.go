package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/internal/onlinecodec"
)

// errNoPong says the subscription's connection stopped answering: a
// half-open connection (a dead peer, a dropped NAT entry, a stopped server)
// that no read error would ever reveal.
var errNoPong = errors.New("no answer to ping")

// Watch calls fn with the keys of every write batch, as published by Write,
// until ctx is done. fn runs on Watch's goroutine:
//
//   - fn(nil, true): the subscription is down (at start, after a lost
//     connection, or when a ping went unanswered for Options.PongTimeout):
//     messages may be missed, so the caller must forget everything and
//     cache nothing until the next call.
//   - fn(keys, false): keys changed, and the subscription is live. The first
//     call after a reset has no keys: the subscription is established and
//     every later write will be reported.
//
// Watch pings the subscription's connection when it has been quiet for
// Options.PingInterval, and treats a ping left unanswered for
// Options.PongTimeout like a lost connection: it resets the caller, closes
// the connection and subscribes again. Watch returns ctx's error.
func (s *Store) Watch(ctx context.Context, fn func(keys []string, reset bool)) error {
	fn(nil, true)
	backoff := 50 * time.Millisecond
	for {
		up, err := s.watchOnce(ctx, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fn(nil, true)
		s.opts.Logger.Warn("redis store: write signal subscription lost", "err", err)
		if up {
			backoff = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// watchOnce follows one subscription until it fails; up says whether it
// was established.
func (s *Store) watchOnce(ctx context.Context, fn func(keys []string, reset bool)) (up bool, err error) {
	ps := s.client.Subscribe(ctx, onlinecodec.Channel(s.opts.Prefix))
	// Receive blocks in a network read that ctx cannot interrupt; closing
	// the subscription can.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	defer ps.Close()
	var pongBy time.Time // zero, or the deadline for any answer to a ping
	for {
		wait := s.opts.PingInterval
		if !pongBy.IsZero() {
			if wait = time.Until(pongBy); wait <= 0 {
				return up, fmt.Errorf("%w within %s", errNoPong, s.opts.PongTimeout)
			}
		}
		msg, err := ps.ReceiveTimeout(ctx, wait)
		if ctx.Err() != nil {
			return up, ctx.Err()
		}
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return up, err
			}
			if pongBy.IsZero() {
				if err := ps.Ping(ctx); err != nil {
					return up, err
				}
				pongBy = time.Now().Add(s.opts.PongTimeout)
			}
			continue // past pongBy, the loop's top gives up
		}
		pongBy = time.Time{} // any message shows the connection works
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				up = true
				fn(nil, false)
			}
		case *goredis.Message:
			keys, err := onlinecodec.DecodeSignal(m.Payload)
			if err != nil {
				s.opts.Logger.Warn("redis store: bad write signal; dropping everything", "err", err)
				fn(nil, true)
				fn(nil, false)
				continue
			}
			fn(keys, false)
		}
	}
}
