package httpapi

import (
	"net/http"
)

// headAsGet answers HEAD on the API's own routes as the GET would, headers
// (X-Registry-Index, Content-Type) included, without the body: gin routes
// HEAD only where a HEAD route exists, so monitors and `curl -I` got 405.
// Proxied paths (/{slug}/...) keep their HEAD: the instance answers it.
func headAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead || slugOf(r.URL.Path) != "" {
			next.ServeHTTP(w, r)
			return
		}
		get := r.Clone(r.Context())
		get.Method = http.MethodGet
		next.ServeHTTP(bodyless{w}, get)
	})
}

// bodyless drops the body of an answer; net/http does so for a HEAD
// request, but the handler sees a GET.
type bodyless struct{ http.ResponseWriter }

func (b bodyless) Write(p []byte) (int, error) { return len(p), nil }

func (b bodyless) Flush() {
	if f, ok := b.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
