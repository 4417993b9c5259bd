// Package corosync converts a corosync (Pacemaker) cluster's
// corosync.conf into the tether configuration of one of its nodes
// (`tetherctl import-corosync`).
//
// Parse reads corosync.conf exactly as corosync's own parser does
// (exec/coroparse.c); Convert maps it onto a migrate.Draft:
//
//   - nodelist node { nodeid, name, ringX_addr } → nodes: the nodeid is
//     kept (1 to 1023; a larger one is an error, not renumbered), the name
//     too when tether takes it (else its short name, or node<ID>), the ring
//     addresses become the node's addresses on networks ring0, ring1, …;
//   - every corosync link (ring) that every node has → a network carried by
//     the tcp channel (knet runs over UDP/IP: TCP is tether's IP channel),
//     on the interface of this host that holds this node's address;
//   - the token and the knet ping timers → heartbeat (knet's ping
//     interval), peerinact (knet's ping timeout) and peertrouble between;
//   - cluster_name → cluster.name, and cluster.id derived from it.
//
// What has no tether equivalent (crypto, votequorum, logging, the totem
// protocol's tuning, …) becomes a Note naming file and line: nothing of the
// file is dropped silently. The conversion is pure: the one thing it needs
// of the host, which interface holds an address, is Options.InterfaceOf.
package corosync
