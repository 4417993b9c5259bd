package llttab

import (
	"fmt"
	"time"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/migrate"
)

// tick is LLT's timer unit: set-timer values are in 1/100 s.
const tick = 10 * time.Millisecond

// maxTimerTicks is tether's longest timer (1 h) in LLT's unit.
const maxTimerTicks = int(time.Hour / tick)

// lltDefault is the default, in ticks, of the LLT timers tether has
// (VIE7 "LLT timer tunable parameters"); ok is false for the others.
func lltDefault(name string) (ticks int, ok bool) {
	switch name {
	case "heartbeat": // an interval: 2 heartbeats a second
		return 50, true
	case "peertrouble":
		return 200, true
	case "peerinact":
		return 1600, true
	case "heartbeatlo":
		return 100, true
	case "peertroublelo":
		return 400, true
	}
	return 0, false
}

// slot is one tether timer being filled.
type slot struct {
	key     string // tether's key
	v       time.Duration
	line    int    // the set-timer line it comes from, or that forced it; 0: LLT's default
	src     string // that set-timer, as written ("" for a default)
	given   bool
	comment string // written after the value
}

// timers converts set-timer. tether requires heartbeat < peertrouble <
// peerinact and the same of the lowpri set, so once any of LLT's timers
// that tether has is set, all six are written, the unset ones at LLT's
// defaults: the node then times its links as the LLT node did. LLT has
// one peerinact for every link, so peerinactlo is peerinact.
func (c *converter) timers() {
	given := map[string]TimerSetting{}
	for _, s := range c.tab.Timers {
		if _, ok := lltDefault(s.Name); !ok {
			c.tabNote(s.Line, "set-timer %s:%d: %s: not carried over", s.Name, s.Value, timerHint(s.Name))
			continue
		}
		if s.Value < 1 || s.Value > maxTimerTicks {
			c.tabFail(s.Line, "set-timer %s:%d: tether's timers go from 10 ms (1) to 1 h (%d)", s.Name, s.Value, maxTimerTicks)
			continue
		}
		if prev, dup := given[s.Name]; dup {
			c.tabNote(s.Line, "set-timer %s is also given at line %d: the last one, %d, is used, as LLT does", s.Name, prev.Line, s.Value)
		}
		given[s.Name] = s
	}
	if len(given) == 0 {
		c.tabNote(0, "no set-timer: LLT ran with its defaults (heartbeat 0.5s, peertrouble 2s, peerinact 16s; link-lowpri heartbeat 1s, peertrouble 4s), tether's own are kept (heartbeat %v, peertrouble %v, peerinact %v; lowpri %v, %v, %v): a silent link is down after %v instead of 16s. To keep LLT's timing, add timers: {heartbeat: 500ms, peertrouble: 2s, peerinact: 16s}",
			config.DefaultHeartbeat, config.DefaultPeerTrouble, config.DefaultPeerInact,
			config.DefaultHeartbeatLo, config.DefaultPeerTroubleLo, config.DefaultPeerInactLo, config.DefaultPeerInact)
		return
	}
	fill := func(key, llt string) slot {
		if s, ok := given[llt]; ok {
			src := fmt.Sprintf("set-timer %s:%d", llt, s.Value)
			return slot{key: key, v: time.Duration(s.Value) * tick, line: s.Line, src: src, given: true, comment: src}
		}
		def, _ := lltDefault(llt)
		return slot{key: key, v: time.Duration(def) * tick, comment: fmt.Sprintf("LLT's default (%s:%d)", llt, def)}
	}
	hi := [3]slot{fill("heartbeat", "heartbeat"), fill("peertrouble", "peertrouble"), fill("peerinact", "peerinact")}
	inactLo := hi[2]
	inactLo.key, inactLo.comment = "peerinactlo", "LLT's peerinact, the same for every link"
	lo := [3]slot{fill("heartbeatlo", "heartbeatlo"), fill("peertroublelo", "peertroublelo"), inactLo}
	okHi, okLo := c.order(&hi), c.order(&lo)
	if !okHi || !okLo {
		return
	}
	for _, s := range append(hi[:], lo[:]...) {
		c.d.Timers = append(c.d.Timers, migrate.Timer{Key: s.key, Value: s.v, Comment: s.comment})
	}
}

// order makes s[0] < s[1] < s[2]. A default (not set in the llttab) that
// is not below a value the llttab sets is lowered, as LLT's ratios
// (peertrouble is peerinact/2 at most, heartbeat peertrouble/4): LLT took
// such a file, tether must too. Set values out of order are an error.
func (c *converter) order(s *[3]slot) bool {
	ok := true
	for _, p := range [2][2]int{{1, 2}, {0, 1}} {
		lo, hi := &s[p[0]], &s[p[1]]
		if lo.v < hi.v {
			continue
		}
		if lo.given || !hi.given && hi.line == 0 {
			line := lo.line
			if !lo.given {
				line = hi.line
			}
			c.tabFail(line, "%s %v is not below %s %v (%s): tether requires %s < %s < %s",
				lo.key, lo.v, hi.key, hi.v, hi.comment, s[0].key, s[1].key, s[2].key)
			ok = false
			continue
		}
		div := time.Duration(2)
		if p[0] == 0 {
			div = 4
		}
		old := lo.v
		lo.v, lo.line, lo.src = hi.v/div, hi.line, hi.src
		lo.comment = fmt.Sprintf("LLT's default %v lowered below %s", old, hi.key)
		c.tabNote(hi.line, "%s: LLT's default %s %v is not below %s %v: set to %v, since tether requires %s < %s < %s",
			hi.src, lo.key, old, hi.key, hi.v, lo.v, s[0].key, s[1].key, s[2].key)
	}
	return ok
}

// timerHint says why an LLT timer has no tether equivalent.
func timerHint(name string) string {
	switch name {
	case "timetoreqhb", "reqhbtime":
		return "LLT asks a silent peer for a heartbeat before peerinact; tether's peerinact alone decides"
	case "timetosendhb", "sendhbcap":
		return "LLT's heartbeat sending schedule; tether sends one every heartbeat interval"
	case "oos":
		return "LLT's wait for out-of-sequence data; tether keeps no data stream to reorder"
	case "retrans":
		return "LLT's data retransmission; tether's messages ride its tcp channel"
	case "service":
		return "LLT's service timer; tether has none"
	case "arp", "arpreq":
		return "LLT's address resolution; tether learns MAC addresses from heartbeats"
	case "rpeerinact":
		return "LLT's RDMA channel timer; tether has no RDMA channel"
	}
	return "an LLT timer tether has no equivalent for"
}
