// Package httpbody reads an HTTP body whole.
package httpbody

import "io"

// Read reads r whole: into one buffer of the announced length when there
// is one within limit (io.ReadAll would grow its buffer up to it, a copy at
// each step), else as io.ReadAll does. r must enforce limit itself
// (http.MaxBytesReader, io.LimitReader): a body announced past it, or not
// announced, is read through r. A body shorter than announced is
// io.ErrUnexpectedEOF.
func Read(r io.Reader, length, limit int64) ([]byte, error) {
	if length <= 0 || length > limit {
		return io.ReadAll(r)
	}
	buf := make([]byte, length)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}
