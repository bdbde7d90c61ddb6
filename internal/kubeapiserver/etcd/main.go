// Command etcd builds the etcd server that the Kubernetes API server in
// ../ stores its objects in. It is a module of its own because etcd's and
// Kubernetes' dependency graphs need not agree on versions.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
