package httpapi

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// The web UI: plain HTML, CSS and JavaScript modules embedded in the
// binary, served by every node at /ui/. It calls the same API as any
// client, with the token the user gives it (kept in session storage).
//
//go:embed ui
var uiFiles embed.FS

func (s *Server) uiRoutes(e *gin.Engine) {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded tree is part of the build
	}
	files := http.StripPrefix("/ui", http.FileServer(http.FS(sub)))
	serve := func(c *gin.Context) {
		h := c.Writer.Header()
		// Only this node's own scripts and API; no framing by other sites.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(c.Writer, c.Request)
	}
	e.GET("/ui/*path", serve)
	e.HEAD("/ui/*path", serve)
	e.GET("/ui", func(c *gin.Context) { c.Redirect(http.StatusFound, "/ui/") })
	// A browser that opens the node's address lands on the UI; API
	// clients get the usual JSON 404.
	e.GET("/", func(c *gin.Context) {
		if strings.Contains(c.GetHeader("Accept"), "text/html") {
			c.Redirect(http.StatusFound, "/ui/")
			return
		}
		c.JSON(http.StatusNotFound, gin.H{"error": "no route for GET /: the API is under /registry-svc/, the web UI under /ui/", "code": "not_found"})
	})
}
