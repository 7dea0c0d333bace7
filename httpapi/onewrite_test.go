package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/internal/oneshot"
	"github.com/rosterhq/roster/internal/oneshot/oneshottest"
)

// A JSON answer, in pieces or not, leaves with its headers in one write
// to the connection whatever its size (a list of a 100-instance slug is
// ~35 KB: two writes without holding), and arrives whole with its length.
func TestAnAnswerLeavesInOneWrite(t *testing.T) {
	gin.SetMode(gin.TestMode)
	big := bytes.Repeat([]byte(`{"id":"inst-0123456789"},`), 1600) // 40 KB
	engine := gin.New()
	engine.GET("/big", func(c *gin.Context) { writeJSON(c, http.StatusOK, []byte(`[`), big, []byte(`{}]`)) })
	engine.GET("/small", func(c *gin.Context) { writeJSON(c, http.StatusCreated, []byte(`{"a":1}`)) })
	srv := httptest.NewUnstartedServer(engine)
	counted := &oneshottest.Listener{Listener: srv.Listener}
	srv.Listener = oneshot.Listener{Listener: counted}
	srv.Config.ConnContext = oneshot.ConnContext
	srv.Start()
	defer srv.Close()
	for _, tc := range []struct {
		path   string
		status int
		body   []byte
	}{
		{"/big", http.StatusOK, append(append([]byte(`[`), big...), `{}]`...)},
		{"/small", http.StatusCreated, []byte(`{"a":1}`)},
	} {
		for range 5 {
			before := counted.Writes()
			resp, err := srv.Client().Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != tc.status || !bytes.Equal(got, tc.body) || resp.ContentLength != int64(len(tc.body)) {
				t.Fatalf("%s: %d, length %d, %d bytes, %v", tc.path, resp.StatusCode, resp.ContentLength, len(got), err)
			}
			if w := counted.Writes() - before; w != 1 {
				t.Fatalf("%s: the answer took %d writes, want 1", tc.path, w)
			}
		}
	}
}
