package httpx

import (
	"bufio"
	"io"
)

// BufWriter remembers the first write error, so a streaming handler can
// write many small pieces and check once.
type BufWriter struct {
	w   *bufio.Writer
	err error
}

func NewBufWriter(w io.Writer) *BufWriter { return &BufWriter{w: bufio.NewWriterSize(w, 32<<10)} }

func (b *BufWriter) Write(p []byte) {
	if b.err == nil {
		_, b.err = b.w.Write(p)
	}
}

func (b *BufWriter) WriteString(s string) {
	if b.err == nil {
		_, b.err = b.w.WriteString(s)
	}
}

func (b *BufWriter) Byte(c byte) {
	if b.err == nil {
		b.err = b.w.WriteByte(c)
	}
}

func (b *BufWriter) Flush() error {
	if b.err == nil {
		b.err = b.w.Flush()
	}
	return b.err
}

// Err is the first write error, nil while every write succeeded.
func (b *BufWriter) Err() error { return b.err }
