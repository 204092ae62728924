package connect_test

import (
	"net/http"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/api"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/connect"
)

// serveRoutes serves s through tokend serve's route table (api.Server.Routes), so the tests
// reach the pages at the paths tokend serves them on.
func serveRoutes(t *testing.T, s *connect.Service) http.Handler {
	t.Helper()
	srv, err := api.New(api.Options{Broker: &broker.Broker{}, KeyCache: api.NewKeyCache(nil, 0, nil), MetricsElsewhere: true, Connect: s})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}
