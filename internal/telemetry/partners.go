package telemetry

import (
	"context"
	"maps"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// MaxPartnerSeries is the default of [MetricsOptions.MaxPartners]: the
// partners partnergate.partner.decisions labels. Partners are created by
// operators, so the set is bounded, but a bound keeps a mistake (or a
// store of millions) from becoming millions of series; decisions of any
// partner past the first MaxPartnerSeries seen count under partner_id
// [OtherPartner].
const MaxPartnerSeries = 10_000

// OtherPartner is the partner_id of decisions past [MaxPartnerSeries]. It
// is no valid partner id (those start with a letter or digit), so it never
// merges with a real partner's series.
const OtherPartner = "_other"

// partnerCount is one partner's decisions, with the attribute sets its
// series are reported under, built once when the partner is first seen.
type partnerCount struct {
	allow, deny           atomic.Int64
	allowAttrs, denyAttrs metric.ObserveOption
}

func newPartnerCount(id string) *partnerCount {
	attrs := func(result string) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(
			attribute.String("partner_id", id), attribute.String("result", result)))
	}
	return &partnerCount{allowAttrs: attrs("allow"), denyAttrs: attrs("deny")}
}

// partnerCounts counts decisions by partner. Readers load an immutable
// map and add to its counters: no lock. A partner not in the map yet (a
// rare event: partners are created by operators) takes mu and swaps in a
// copy that holds it.
type partnerCounts struct {
	byID  atomic.Pointer[map[string]*partnerCount]
	other *partnerCount
	max   int

	mu sync.Mutex // serialises writers of byID
}

func newPartnerCounts(max int) *partnerCounts {
	c := &partnerCounts{other: newPartnerCount(OtherPartner), max: max}
	c.byID.Store(&map[string]*partnerCount{})
	return c
}

// add counts one decision of partner id.
func (c *partnerCounts) add(id string, allowed bool) {
	pc := (*c.byID.Load())[id]
	if pc == nil {
		pc = c.insert(id)
	}
	if allowed {
		pc.allow.Add(1)
	} else {
		pc.deny.Add(1)
	}
}

// insert returns id's counter, adding it unless the bound is reached; past
// the bound it returns the shared counter of [OtherPartner] and takes no
// lock, so a flood of partners beyond it costs no more than one within.
func (c *partnerCounts) insert(id string) *partnerCount {
	if len(*c.byID.Load()) >= c.max {
		return c.other
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := *c.byID.Load()
	if pc := cur[id]; pc != nil {
		return pc // another writer added it meanwhile
	}
	if len(cur) >= c.max {
		return c.other
	}
	// The map outlives the decision: keep a copy of the id, not a string
	// that may share memory with the decision's source.
	id = strings.Clone(id)
	next := maps.Clone(cur)
	pc := newPartnerCount(id)
	next[id] = pc
	c.byID.Store(&next)
	return pc
}

// observe reports each partner's allows and denials, and those counted
// past the bound once there are any.
func (c *partnerCounts) observe(_ context.Context, o metric.Int64Observer) error {
	report := func(pc *partnerCount) {
		o.Observe(pc.allow.Load(), pc.allowAttrs)
		o.Observe(pc.deny.Load(), pc.denyAttrs)
	}
	for _, pc := range *c.byID.Load() {
		report(pc)
	}
	if c.other.allow.Load() > 0 || c.other.deny.Load() > 0 {
		report(c.other)
	}
	return nil
}
