package swarm

// For tests of package swarm_test that forge classic entries.
var (
	ClassicTypeName = typeNameOf[*classicValue]()
	ClassicPrefix   = classicPrefix
)
