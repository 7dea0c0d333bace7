package httpapi

import (
	_ "embed"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
	"github.com/goccy/go-yaml"
)

// openAPIYAML is the API's contract, kept beside the routes it describes
// (and checked against them by testcluster/openapi_test.go).
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPIJSON is the contract as JSON, converted once.
var OpenAPIJSON = sync.OnceValues(func() ([]byte, error) { return yaml.YAMLToJSON(openAPIYAML) })

// openAPI is GET /registry-svc/openapi.json: no token, the contract is
// not a secret.
func (s *Server) openAPI(c *gin.Context) {
	doc, err := OpenAPIJSON()
	if err != nil {
		s.writeError(c, err) // a build with a broken document; its test fails first
		return
	}
	c.Data(http.StatusOK, "application/json", doc)
}
