package testcluster

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/httpapi/client"
)

// A catalog at its quota answers 507 quota_exceeded to a registration
// through a follower (batched) and on the leader, keeps taking removals and
// re-registrations, and says so in the cluster status.
func TestCatalogQuotaAnswers507(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3, HTTP: httpapi.Options{Quota: api.Quota{MaxInstances: 4}}})
	ctx := t.Context()
	f := follower(c)
	var ids []string
	for i := range 4 {
		in := register(t, c, f, fmt.Sprintf("http://10.3.0.%d:80", i+1), "q")
		ids = append(ids, in.ID)
	}
	for _, i := range []int{f, c.Leader()} {
		_, err := c.Client(i).RegisterInstance(ctx, client.RegisterRequest{URL: "http://10.3.0.99:80", Slug: "q"})
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusInsufficientStorage || ae.Body.Code != api.CodeQuotaExceeded {
			t.Fatalf("node%d: registration past the quota: %v", i+1, err)
		}
	}
	st, err := c.Client(f).ClusterStatus(ctx)
	if err != nil || st.Catalog == nil || st.Catalog.Instances != 4 || st.Catalog.Quota.MaxInstances != 4 {
		t.Fatalf("cluster status catalog: %v %+v", err, st.Catalog)
	}
	register(t, c, f, "http://10.3.0.1:80", "q") // an upsert does not grow it
	if err := c.Client(f).DeleteInstance(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	register(t, c, f, "http://10.3.0.99:80", "q")
}
