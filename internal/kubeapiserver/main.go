// Command kube-apiserver builds the upstream Kubernetes API server from the
// Go module proxy, so that shoal's discovery tests can run against the real
// thing without a cluster or a container runtime.
//
// It lives in its own module so that k8s.io never enters the module graph of
// github.com/shoal-go/shoal. Build it with build.sh.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	command := app.NewAPIServerCommand()
	code := cli.Run(command)
	os.Exit(code)
}
