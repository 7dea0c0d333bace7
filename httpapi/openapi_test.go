package httpapi

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// The embedded contract converts to JSON and is valid OpenAPI 3.1 (the
// test cluster checks real traffic against it).
func TestTheOpenAPIDocumentIsValid(t *testing.T) {
	raw, err := OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.Paths.Len() < 25 {
		t.Fatalf("OpenAPI %s with %d paths", doc.OpenAPI, doc.Paths.Len())
	}
}
