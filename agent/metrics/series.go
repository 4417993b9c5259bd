package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// A scrape exports a few hundred series whose labels never change (the
// configured peers, networks, states and reasons). client_golang's const
// metrics build and sort their label pairs anew every time, a fifth of a
// scrape; the pairs are made once per series here and the metric written
// from them.

// seriesKey names one series: its desc and up to four label values.
type seriesKey struct {
	d          *prometheus.Desc
	l0, l1, l2 string
	l3         string
}

// pairCache holds the label pairs of every series exported so far. It
// is bounded by the series the configuration allows (nothing from the
// wire is a label value).
type pairCache struct {
	mu    sync.Mutex
	pairs map[seriesKey][]*dto.LabelPair
}

func (c *pairCache) get(d *prometheus.Desc, labels []string) []*dto.LabelPair {
	var k seriesKey
	k.d = d
	for i, l := range labels {
		switch i {
		case 0:
			k.l0 = l
		case 1:
			k.l1 = l
		case 2:
			k.l2 = l
		case 3:
			k.l3 = l
		default:
			panic("metrics: more than four labels") // the descs above have at most four
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pairs[k]; ok {
		return p
	}
	if c.pairs == nil {
		c.pairs = map[seriesKey][]*dto.LabelPair{}
	}
	p := prometheus.MakeLabelPairs(d, labels)
	c.pairs[k] = p
	return p
}

// constSeries is a gauge or counter sample with cached label pairs. The
// pairs are shared between scrapes: the registry only reads them.
type constSeries struct {
	desc    *prometheus.Desc
	pairs   []*dto.LabelPair
	counter bool
	value   float64
}

func (m *constSeries) Desc() *prometheus.Desc { return m.desc }

func (m *constSeries) Write(out *dto.Metric) error {
	out.Label = m.pairs
	v := m.value
	if m.counter {
		out.Counter = &dto.Counter{Value: &v}
	} else {
		out.Gauge = &dto.Gauge{Value: &v}
	}
	return nil
}
