package corosync

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/migrate"
)

// Corosync's defaults (exec/totemconfig.c).
const (
	defaultToken       = 3000 // ms, TOKEN_TIMEOUT
	defaultCoefficient = 650  // ms per node above two, TOKEN_COEFFICIENT
	defaultPongCount   = 2    // KNET_PONG_COUNT
)

// Bounds of tether's timers (config: 1ms to 1h, heartbeat < peertrouble <
// peerinact, so peerinact needs 3 ms at least).
const (
	minInactMs = 3
	maxTimerMs = uint64(time.Hour / time.Millisecond)
)

// timers derives tether's timers from knet's link timers, which corosync
// derives from the token (totemconfig.c totem_volatile_config_read and
// totem_calc_knet_ping_timers):
//
//	token       = token + (nodes with ring0_addr - 2) × token_coefficient, above two nodes
//	ping_timeout  = knet_ping_timeout  or token / pong_count
//	ping_interval = knet_ping_interval or token / (2 × pong_count)
//
// in whole milliseconds. knet pings every ping_interval and declares the
// link down when no pong came for ping_timeout: that is tether's heartbeat
// and peerinact. peertrouble (a silent link is TROUBLE, still up) is
// halfway between. The timers come from the first network's link (the one
// messages prefer); tether's timers are the same on every network.
func (c *converter) timers(links []*link, nodes []*cnode) ([]migrate.Timer, error) {
	token, tokIt, err := c.number(c.totem, "token", math.MaxUint32)
	if err != nil {
		return nil, err
	}
	if tokIt == nil {
		token = defaultToken
	}
	coef, coefIt, err := c.number(c.totem, "token_coefficient", math.MaxUint32)
	if err != nil {
		return nil, err
	}
	if coefIt == nil {
		coef = defaultCoefficient
	}
	members := uint64(0)
	for _, n := range nodes {
		if _, ok := n.rings[0]; ok {
			members++
		}
	}
	eff := token
	tokenText := ""
	if members > 2 && coef > 0 {
		eff += (members - 2) * coef
		tokenText = fmt.Sprintf("; token %d = %d + (%d nodes - 2) x token_coefficient %d, as corosync computes it", eff, token, members, coef)
	}
	kt := func(l *link) (interval, timeout, pongs uint64) {
		pongs = l.pongCount
		if pongs == 0 {
			pongs = defaultPongCount
		}
		interval, timeout = l.pingInterval, l.pingTimeout
		if timeout == 0 {
			timeout = eff / pongs
		}
		if interval == 0 {
			interval = eff / (2 * pongs)
		}
		return interval, timeout, pongs
	}
	first := links[0]
	interval, timeout, pongs := kt(first)
	for _, l := range links[1:] {
		if i, t, _ := kt(l); i != interval || t != timeout {
			c.notef(l.timerLines0(l.line), "%s's knet ping timers (interval %d ms, timeout %d ms) differ from %s's (%d ms, %d ms): "+
				"tether's timers are the same on every network, and are %s's", l.name, i, t, first.name, interval, timeout, first.name)
		}
	}
	hbText := fmt.Sprintf("knet ping interval: token / (2 x pong_count) = %d / (2 x %d) ms%s", eff, pongs, tokenText)
	if first.pingInterval != 0 {
		hbText = fmt.Sprintf("knet_ping_interval of %s", first.name)
	}
	inactText := fmt.Sprintf("knet ping timeout: token / pong_count = %d / %d ms; a silent link is DOWN after it", eff, pongs)
	if first.pingTimeout != 0 {
		inactText = fmt.Sprintf("knet_ping_timeout of %s; a silent link is DOWN after it", first.name)
	}
	if c.transport != "knet" {
		hbText += " (as knet would derive it: " + c.transport + " has no link heartbeat)"
	}
	line := tokIt.lineOr(0)
	hb, inact := interval, timeout
	if inact < minInactMs || inact > maxTimerMs {
		inact = min(max(inact, minInactMs), maxTimerMs)
		c.notef(line, "the knet ping timeout (%d ms) is outside what tether takes: peerinact is %d ms", timeout, inact)
	}
	if hb == 0 || hb+2 > inact {
		hb = max(inact/3, 1)
		c.notef(line, "the knet ping interval (%d ms) is not below the ping timeout (%d ms) by 2 ms at least: heartbeat is %d ms, a third of peerinact", interval, inact, hb)
	}
	trouble := hb + (inact-hb)/2
	ms := func(n uint64) time.Duration { return time.Duration(n) * time.Millisecond }
	return []migrate.Timer{
		{Key: "heartbeat", Value: ms(hb), Comment: hbText},
		{Key: "peertrouble", Value: ms(trouble), Comment: "halfway: a silent link is TROUBLE (still up) after it"},
		{Key: "peerinact", Value: ms(inact), Comment: inactText},
	}, nil
}

// timerLines0 is the line of the link's first knet ping timer, else line.
func (l *link) timerLines0(line int) int {
	if len(l.timerLines) > 0 {
		return l.timerLines[0]
	}
	return line
}

func (it *Item) lineOr(line int) int {
	if it == nil {
		return line
	}
	return it.Line
}

// joinLines is "3, 7, 9".
func joinLines(items []*Item) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = fmt.Sprint(it.Line)
	}
	return strings.Join(parts, ", ")
}
