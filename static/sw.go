package static

// ServiceWorker is js/sw.js, which the web side serves at /sw.js (a
// worker's scope is below its script's path, and content-hashed URLs
// would make a new worker of every release).
func ServiceWorker() []byte {
	b, err := files.ReadFile("js/sw.js")
	if err != nil {
		panic("static: js/sw.js is not embedded: " + err.Error()) // a build without it is broken
	}
	return b
}
