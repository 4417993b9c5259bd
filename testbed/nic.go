package testbed

import "fmt"

// NICSilent makes node i's interface on net keep its carrier but pass
// nothing either way, like a NIC broken by a firmware update: an
// nftables netdev table with an ingress and an egress chain on the
// interface, both dropping everything. Egress drops make the sender's
// writes fail (ENOBUFS). Ingress drops hide frames from sockets bound to
// an EtherType, as tetherd's are, but not from ETH_P_ALL taps on the
// node's interface (they are served before the ingress hook); capture at
// the switch port instead. Undo deletes the table.
func (b *Bed) NICSilent(i int, net string) Fault {
	b.t.Helper()
	iface := b.Iface(i, net)
	b.mu.Lock()
	b.nftSeq++
	table := fmt.Sprintf("tbf%d", b.nftSeq)
	b.mu.Unlock()
	rs := fmt.Sprintf("table netdev %[1]s {\n"+
		"\tchain ingress {\n\t\ttype filter hook ingress device %[2]q priority 0; policy drop;\n\t}\n"+
		"\tchain egress {\n\t\ttype filter hook egress device %[2]q priority 0; policy drop;\n\t}\n"+
		"}\n", table, iface)
	f := b.NFT(b.NodeNS(i), rs)
	f.Name = fmt.Sprintf("silent NIC node%d %s", i, net)
	return f
}
