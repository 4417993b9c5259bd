package ether

import (
	"golang.org/x/net/bpf"
)

// Filter is what the kernel may drop before it wakes us: frames of our
// cluster addressed to another node and not sent with our id. Every node
// broadcasts a heartbeat once a second so that frames reach NICs on the
// wrong segment; without the filter every node would wake for the
// broadcasts between its peers, only to drop them. What passes: frames of
// another cluster (foreign-cluster), frames to us or to everyone, frames
// with our id as the sender (our own, looped back: shared segments; a
// duplicate of ours), and anything too short to tell (counted as
// truncated).
type Filter struct {
	Cluster uint16
	Self    uint16
}

// Offsets in the Ethernet frame: 14 bytes of header, then the llt header
// (llt/codec.go: cluster at 8, source at 10, destination at 12).
const (
	offCluster  = 14 + 8
	offSrc      = 14 + 10
	offDst      = 14 + 12
	minFiltered = offDst + 2
)

// program assembles the filter.
func (f Filter) program() ([]bpf.RawInstruction, error) {
	const accept, drop = 0x40000, 0
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtLen},
		bpf.JumpIf{Cond: bpf.JumpLessThan, Val: minFiltered, SkipTrue: 7},       // too short to tell: accept
		bpf.LoadAbsolute{Off: offCluster, Size: 2},                              //
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(f.Cluster), SkipTrue: 5}, // another cluster: accept
		bpf.LoadAbsolute{Off: offDst, Size: 2},                                  //
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(f.Self), SkipTrue: 3},       // to us
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0xFFFF, SkipTrue: 2},               // to everyone
		bpf.LoadAbsolute{Off: offSrc, Size: 2},                                  //
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(f.Self), SkipFalse: 1},      // from our id
		bpf.RetConstant{Val: accept},
		bpf.RetConstant{Val: drop},
	})
}
