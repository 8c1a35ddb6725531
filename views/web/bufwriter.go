package web

import (
	"bufio"
	"io"
)

// bufWriter remembers the first write error, so a streaming handler can
// write many small pieces and check once.
type bufWriter struct {
	w   *bufio.Writer
	err error
}

func newBufWriter(w io.Writer) *bufWriter { return &bufWriter{w: bufio.NewWriterSize(w, 32<<10)} }

func (b *bufWriter) Write(p []byte) {
	if b.err == nil {
		_, b.err = b.w.Write(p)
	}
}

func (b *bufWriter) WriteString(s string) {
	if b.err == nil {
		_, b.err = b.w.WriteString(s)
	}
}

func (b *bufWriter) Byte(c byte) {
	if b.err == nil {
		b.err = b.w.WriteByte(c)
	}
}

func (b *bufWriter) Flush() error {
	if b.err == nil {
		b.err = b.w.Flush()
	}
	return b.err
}
