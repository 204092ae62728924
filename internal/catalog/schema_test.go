package catalog

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestSchemaNamesEveryField keeps entry.schema.json and the Go types in step: each object of
// the schema lists exactly the JSON fields of its type.
func TestSchemaNamesEveryField(t *testing.T) {
	b, err := os.ReadFile("entry.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	compareSchema(t, "entry", schema, schema, reflect.TypeFor[Entry]())
}

func compareSchema(t *testing.T, where string, root, node map[string]any, typ reflect.Type) {
	t.Helper()
	if ref, ok := node["$ref"].(string); ok {
		node = root["$defs"].(map[string]any)[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
	}
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		typ = typ.Elem()
		if items, ok := node["items"].(map[string]any); ok {
			compareSchema(t, where+"[]", root, items, typ)
			return
		}
	}
	if typ.Kind() != reflect.Struct {
		return
	}
	props, _ := node["properties"].(map[string]any)
	var inSchema, inGo []string
	for k := range props {
		inSchema = append(inSchema, k)
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		inGo = append(inGo, name)
		if sub, ok := props[name].(map[string]any); ok {
			compareSchema(t, where+"."+name, root, sub, f.Type)
		}
	}
	slices.Sort(inSchema)
	slices.Sort(inGo)
	if !slices.Equal(inSchema, inGo) {
		t.Errorf("%s: schema properties %v, Go fields %v", where, inSchema, inGo)
	}
}
