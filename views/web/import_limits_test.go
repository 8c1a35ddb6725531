package web_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"tracker/views/web"
)

// gzipOf compresses n bytes of c.
func gzipOf(t testing.TB, c byte, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	chunk := bytes.Repeat([]byte{c}, 1<<20)
	for n > 0 {
		k := min(n, len(chunk))
		gz.Write(chunk[:k])
		n -= k
	}
	gz.Close()
	return buf.Bytes()
}

// TestImportBombRefused: a small gzip body that decompresses to more than
// the import limits is refused with 413 and the reason, after reading no
// more than the limit (a 1 MB bomb took the server to 598 MB).
func TestImportBombRefused(t *testing.T) {
	st := newStack(t)
	head := st.log.Head()
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"one endless line", gzipOf(t, '0', 200<<20)},
		{"endless empty lines", gzipOf(t, '\n', 100<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, b := st.do(t, http.MethodPost, "/api/v1/admin/import", string(tc.body))
			var r web.ImportResult
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("answer %s: %q", res.Status, b)
			}
			if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(r.Error, "send smaller batches") {
				t.Errorf("%d-byte bomb: %s %+v, want 413 saying to send smaller batches", len(tc.body), res.Status, r)
			}
		})
	}
	if h := st.log.Head(); h != head {
		t.Errorf("log head moved from %d to %d", head, h)
	}
}
