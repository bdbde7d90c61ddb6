package debugpage_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/debugpage"
)

// Serve a node's debug page and read it as JSON.
func ExampleHandler() {
	n, err := swarm.New(swarm.DefaultLocalConfig("example"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	hits, _ := swarm.NewCounter(n, "hits")
	_ = hits.Add(3)

	srv := httptest.NewServer(debugpage.Handler(n))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/?format=json")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var rep debugpage.Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.Node, len(rep.Members), "member")
	for _, v := range rep.Values {
		fmt.Printf("%s = %s (%s: %s)\n", v.Name, v.Value, v.Replicas[0].Node, v.Replicas[0].Contribution)
	}
	// Output:
	// example 1 member
	// hits = 3 (example: 3)
}
