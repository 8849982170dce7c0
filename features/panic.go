package features

import (
	"fmt"
	"runtime/debug"
)

// PanicError is a panic recovered in a goroutine that runs user code (a
// FuncTransform) or decodes outside input, turned into an error of the call
// that started the goroutine: only main may crash. Retrying cannot fix it.
type PanicError struct {
	Where string // what was running, e.g. "compute user_orders"
	Value any    // what was passed to panic
	Stack []byte // the panicking goroutine's stack
}

func (e *PanicError) Error() string { return fmt.Sprintf("%s: panic: %v", e.Where, e.Value) }

// RecoverPanic turns a panic of the calling goroutine into a *PanicError
// stored in *err. Call it deferred, directly:
//
//	defer features.RecoverPanic(&err, "decode "+name)
func RecoverPanic(err *error, where string) {
	if r := recover(); r != nil {
		*err = &PanicError{Where: where, Value: r, Stack: debug.Stack()}
	}
}
