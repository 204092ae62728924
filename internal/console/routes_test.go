package console

import (
	"net/http"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/api"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
)

// serveRoutes serves c through tokend serve's route table (api.Server.Routes), so the tests
// reach the status page at the paths tokend serves it on.
func serveRoutes(t *testing.T, c *Console) http.Handler {
	t.Helper()
	srv, err := api.New(api.Options{Broker: &broker.Broker{}, KeyCache: api.NewKeyCache(nil, 0, nil), MetricsElsewhere: true, Console: c})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}
