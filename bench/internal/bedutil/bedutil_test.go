package bedutil

import (
	"testing"

	"github.com/tether-ha/tether/agent/status"
)

func TestAllChannelsUp(t *testing.T) {
	doc := func(tcp string) *status.Status {
		return &status.Status{Nodes: []status.Node{
			{ID: 0, Local: true},
			{ID: 1, Links: []status.Link{{Network: "hb0", State: status.LinkUp, Channels: map[string]string{"ether": status.ChannelUp, "tcp": tcp}}}},
		}}
	}
	if !AllChannelsUp(doc(status.ChannelUp), 1) {
		t.Fatal("every channel UP: AllChannelsUp = false")
	}
	// The link is up (ether carries it) but the tcp pair is not.
	for _, tcp := range []string{status.ChannelInit, status.ChannelToOnly, status.ChannelDown} {
		if AllChannelsUp(doc(tcp), 1) {
			t.Errorf("tcp %s: AllChannelsUp = true", tcp)
		}
	}
	if AllChannelsUp(doc(status.ChannelUp), 2) {
		t.Error("a missing peer: AllChannelsUp = true")
	}
}
