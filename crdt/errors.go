package crdt

import "errors"

// ErrClockSkew is returned when a remote timestamp is further ahead of the
// local wall clock than the configured maximum skew. The value it belongs
// to is still merged (so replicas converge), but the local hybrid logical
// clock is not dragged forward by it.
var ErrClockSkew = errors.New("shoal/crdt: remote timestamp too far in the future")

// ErrConfigMismatch is returned when a decoded state was made with a
// different configuration (window length, bucket count) than the local
// value it is meant to be merged into.
var ErrConfigMismatch = errors.New("shoal/crdt: configuration mismatch")

// ErrInvalidState is returned by Validate when a decoded state breaks an
// invariant of its type: unsorted or duplicate entries, a zero replica, a
// zero count where none is allowed, a dot outside the causal context.
var ErrInvalidState = errors.New("shoal/crdt: invalid state")

// ErrInvalidConfig is returned when a constructor is given a configuration
// it cannot work with, such as a non-positive window.
var ErrInvalidConfig = errors.New("shoal/crdt: invalid configuration")
