package swarm

import (
	"reflect"
	"testing"
)

// Every Config field a flag can carry has one: a field added to Config
// without a flag fails here, not in an operator's hands.
func TestEveryConfigFieldHasAFlag(t *testing.T) {
	// Incarnation is chosen at each start; the others are Go values.
	noFlag := map[string]bool{"Incarnation": true, "Logger": true, "Discovery": true, "Transport": true, "Now": true, "Store": true}
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		if !f.IsExported() || noFlag[f.Name] {
			continue
		}
		if _, ok := configFlags[f.Name]; !ok {
			t.Errorf("Config.%s has no flag in configFlags (or belongs in noFlag)", f.Name)
		}
	}
}
