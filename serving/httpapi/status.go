package httpapi

import (
	"net/http"

	"github.com/skewfree/skewfree/serving/internal/feastapi"
)

// statusOf is the HTTP status of a failed request (feastapi's kinds, which
// the gRPC service maps to its codes).
func statusOf(err error) int {
	switch feastapi.KindOf(err) {
	case feastapi.TooLarge:
		return http.StatusRequestEntityTooLarge
	case feastapi.Unavailable, feastapi.Cancelled:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}
