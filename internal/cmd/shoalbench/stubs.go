package main

import (
	"context"
	"io"
	"sort"
)

func sortFloats(f []float64) { sort.Float64s(f) }

func runReportCmd(ctx context.Context, args []string, out, errOut io.Writer) error { return nil }
