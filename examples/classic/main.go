// Command classic is a program written against the classic swarm API,
// the one skipper's swarm package offers: Options, NewStaticNodeInfo,
// NewStaticSwarm, Start, ShareValue, Values, Local and Leave. It was
// written for github.com/zalando/skipper/swarm; only the import path
// changed to github.com/shoal-go/shoal/swarm.
//
// It starts a static swarm of a few instances in one process (as a test
// harness for a cluster rate limit would), lets each instance serve some
// requests and share its count under one key, and prints what every
// instance believes the cluster served, until all of them agree.
//
//	go run ./examples/classic
//	go run ./examples/classic -nodes 5 -rounds 10
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/shoal-go/shoal/swarm" // was: "github.com/zalando/skipper/swarm"
)

const key = "served"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("classic", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", 3, "instances in the static swarm")
	rounds := fs.Int("rounds", 5, "rounds of serving and sharing")
	interval := fs.Duration("interval", 200*time.Millisecond, "time between rounds")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *nodes < 1 || *nodes > 32 || *rounds < 1 || *interval <= 0 {
		fmt.Fprintln(stderr, "classic: want 1-32 nodes, at least one round and a positive interval")
		return 2
	}
	logger := log.New(stderr, "classic: ", log.Ltime)

	// Every instance knows the whole static list, itself included.
	var all []*swarm.NodeInfo
	for i := 0; i < *nodes; i++ {
		port, err := freePort()
		if err != nil {
			logger.Print(err)
			return 1
		}
		ni, err := swarm.NewStaticNodeInfo(fmt.Sprintf("skipper-%d", i), fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			logger.Print(err)
			return 1
		}
		all = append(all, ni)
	}

	var swarms []*swarm.Swarm
	defer func() {
		for _, sw := range swarms {
			sw.Leave()
		}
	}()
	for _, self := range all {
		sw, err := swarm.Start(swarm.Options{
			SwarmPort:    self.Port,
			LeaveTimeout: 2 * time.Second,
			StaticSwarm:  swarm.NewStaticSwarm(self, all),
		})
		if err != nil {
			logger.Printf("start %s: %v", self.Name, err)
			return 1
		}
		swarms = append(swarms, sw)
		logger.Printf("started %v", sw.Local())
	}

	served := make([]int64, len(swarms))
	for round := 1; round <= *rounds; round++ {
		for i, sw := range swarms {
			served[i] += int64(rand.Intn(100))
			if err := sw.ShareValue(key, served[i]); err != nil {
				logger.Printf("%s: share: %v", sw.Local().Name, err)
				return 1
			}
		}
		time.Sleep(*interval)
		fmt.Fprintf(stdout, "round %d:\n", round)
		for _, sw := range swarms {
			fmt.Fprintf(stdout, "  %s sees %s\n", sw.Local().Name, describe(sw.Values(key)))
		}
	}

	var want int64
	for _, n := range served {
		want += n
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		agree := true
		for _, sw := range swarms {
			if total(sw.Values(key)) != want {
				agree = false
			}
		}
		if agree {
			fmt.Fprintf(stdout, "all %d instances agree: the cluster served %d requests\n", len(swarms), want)
			return 0
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(stdout, "the instances did not agree on %d within 10s\n", want)
			return 1
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// total adds the int64 values every node shared, as a cluster rate limit
// sums its peers' counts.
func total(values map[string]interface{}) int64 {
	var sum int64
	for _, v := range values {
		if n, ok := v.(int64); ok {
			sum += n
		}
	}
	return sum
}

func describe(values map[string]interface{}) string {
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s=%v", name, values[name])
	}
	return fmt.Sprintf("%s (total %d)", strings.Join(parts, " "), total(values))
}

// freePort asks the kernel for a port free for TCP, and checks UDP too:
// the swarm listens on both.
func freePort() (uint16, error) {
	for attempt := 0; attempt < 20; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return uint16(port), nil
	}
	return 0, fmt.Errorf("no free port for TCP and UDP")
}
