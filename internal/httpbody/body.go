// Package httpbody reads an HTTP body whole.
package httpbody

import (
	"errors"
	"io"
)

// ErrTooLarge is Read's answer to a body of more than its limit.
var ErrTooLarge = errors.New("larger than the limit")

// Read reads r whole, at most limit bytes: into one buffer of the announced
// length when there is one (io.ReadAll would grow its buffer up to it, a
// copy at each step), else as io.ReadAll does. A body announced past limit
// is ErrTooLarge before a byte is read, one that goes on past it once
// limit and one more byte are read: never a body cut short, which would
// read as broken JSON. A body shorter than announced is
// io.ErrUnexpectedEOF.
func Read(r io.Reader, length, limit int64) ([]byte, error) {
	if length > limit {
		return nil, ErrTooLarge
	}
	if length <= 0 {
		b, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err == nil && int64(len(b)) > limit {
			return nil, ErrTooLarge
		}
		return b, err
	}
	buf := make([]byte, length)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}
