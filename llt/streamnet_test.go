package llt

import (
	"fmt"
	"testing"
	"time"
)

// Streams ride the best network whose tcp channel is up, and move to the
// next when it is cut; lowpri and ether-only networks come last or never.
func TestStreamNetworks(t *testing.T) {
	nets := append(etherTCP("hb0", "hb1"), NetworkConfig{Name: "eth-only", Ether: true},
		NetworkConfig{Name: "pub", Ether: true, TCP: true, Lowpri: true})
	s := newSim(t, 2, nets, DefaultTimers())
	s.run(3 * time.Second)
	s.assertAllOpen()
	if got := fmt.Sprint(s.nodes[0].m.StreamNetworks(s.now, 1)); got != "[0 1 3]" {
		t.Fatalf("healthy: %s, want [0 1 3]", got)
	}
	s.cutTCP(0, 1, 0, true)
	s.run(2 * time.Second)
	if got := fmt.Sprint(s.nodes[0].m.StreamNetworks(s.now, 1)); got != "[1 3]" {
		t.Fatalf("tcp of hb0 cut: %s, want [1 3]", got)
	}
	s.cutLink(0, 1, 1, true)
	s.run(2 * time.Second)
	if got := fmt.Sprint(s.nodes[0].m.StreamNetworks(s.now, 1)); got != "[3]" {
		t.Fatalf("hb1 cut too: %s, want [3]", got)
	}
	if got := s.nodes[0].m.StreamNetworks(s.now, 99); got != nil {
		t.Errorf("unknown peer: %v", got)
	}
}
