// Package static holds the files the pages load: our CSS and script and
// the vendored front-end libraries (see package.json and vendor.sh),
// embedded in the binary. URLs carry a hash of the file's content, so
// they can be cached for a year and still change when the file does.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed css js vendor favicon.svg
var files embed.FS

// Prefix is where the assets are served.
const Prefix = "/static/"

// Assets knows each file's content hash.
type Assets struct {
	hash map[string]string // file name -> short content hash
}

// New hashes every embedded file.
func New() *Assets {
	a := &Assets{hash: map[string]string{}}
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a.hash[p] = hex.EncodeToString(sum[:6])
		return nil
	})
	return a
}

// URL returns the cache-busting URL of an embedded file, e.g.
// URL("vendor/htmx.min.js") = "/static/3f2a9c01d2e4/vendor/htmx.min.js".
// It panics on a name that is not embedded: that is a programming error
// caught by any test that renders the page.
func (a *Assets) URL(name string) string {
	h, ok := a.hash[name]
	if !ok {
		panic("static: no embedded file " + name)
	}
	return Prefix + h + "/" + name
}

// Handler serves /static/<hash>/<name>. A request whose hash matches the
// file is cacheable forever; an old hash still gets the current file, but
// only briefly cached.
func (a *Assets) Handler() http.Handler {
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, Prefix)
		h, name, ok := strings.Cut(rest, "/")
		name = path.Clean("/" + name)[1:]
		cur, known := a.hash[name]
		if !ok || !known {
			http.NotFound(w, r)
			return
		}
		if h == cur {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=60")
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		fileServer.ServeHTTP(w, r2)
	})
}
