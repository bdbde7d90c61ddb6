package ratelimitbench

import (
	"slices"
	"time"
)

// evaluate computes the ratios and the series from the loaders' events.
func evaluate(res *Result, p Params, start, end time.Time, loaders []*loader) {
	var costs []float64
	byKey := map[int32]*keyEvents{}
	for _, l := range loaders {
		costs = append(costs, l.costs...)
		res.MaxStallMs = max(res.MaxStallMs, float64(l.stall)/1e6)
		for _, e := range l.events {
			k := byKey[e.key]
			if k == nil {
				k = &keyEvents{}
				byKey[e.key] = k
			}
			k.offered = append(k.offered, e.t)
			res.Offered++
			if e.allowed {
				k.admitted = append(k.admitted, e.t)
				res.Admitted++
			}
		}
	}
	res.AllowNsP50 = percentile(costs, 0.5)
	res.AllowNsP99 = percentile(costs, 0.99)

	W := int64(p.Window)
	step := max(W/200, 1)
	from, to := start.UnixNano(), end.UnixNano()
	if p.Keyed == nil {
		k := byKey[0]
		if k == nil {
			k = &keyEvents{}
		}
		k.sort()
		st := k.stats(from+W, to, W, step, p.Limit, false)
		res.AdmittedRatioMean, res.AdmittedRatioWorst, res.AdmittedRatioMin = st.mean, st.worst, st.min
		for t := from + int64(p.SeriesStep); t <= to; t += int64(p.SeriesStep) {
			res.Series = append(res.Series, Point{
				T:        float64(t-from) / 1e9,
				Admitted: k.count(k.admitted, t-W, t),
				Offered:  k.count(k.offered, t-W, t),
			})
		}
		return
	}
	// Keyed: ratios over the keys offered at least 1.2 times their limit
	// in some window; windows after the first, as for the single limit.
	var sum float64
	n := 0
	res.AdmittedRatioMin = 0
	first := true
	for _, k := range byKey {
		k.sort()
		st := k.stats(from+W, to, W, step, p.Limit, true)
		if st.samples == 0 {
			continue
		}
		n++
		sum += st.mean
		res.AdmittedRatioWorst = max(res.AdmittedRatioWorst, st.worst)
		if first || st.min < res.AdmittedRatioMin {
			res.AdmittedRatioMin = st.min
		}
		first = false
	}
	res.KeysOverloaded = n
	if n > 0 {
		res.AdmittedRatioMean = sum / float64(n)
	}
}

type keyEvents struct {
	offered, admitted []int64
}

func (k *keyEvents) sort() {
	slices.Sort(k.offered)
	slices.Sort(k.admitted)
}

// count returns how many of the sorted times xs lie in (lo, hi].
func (k *keyEvents) count(xs []int64, lo, hi int64) int {
	a, _ := slices.BinarySearch(xs, lo+1)
	b, _ := slices.BinarySearch(xs, hi+1)
	return b - a
}

type windowStats struct {
	mean, worst, min float64
	samples          int
}

// stats samples the windows (t−W, t] for t from `from` to `to` every step:
// mean over all of them (or, if overloadedOnly, over those offered at
// least 1.2·limit), min over those offered at least 1.2·limit; worst is
// the maximum over every window ending at an admission.
func (k *keyEvents) stats(from, to, W, step int64, limit int, overloadedOnly bool) windowStats {
	var st windowStats
	L := float64(limit)
	lo := 0
	for i, t := range k.admitted {
		for k.admitted[lo] <= t-W {
			lo++
		}
		st.worst = max(st.worst, float64(i-lo+1)/L)
	}
	st.min = 1e9
	var sum float64
	for t := from; t <= to; t += step {
		off := k.count(k.offered, t-W, t)
		heavy := float64(off) >= 1.2*L
		if overloadedOnly && !heavy {
			continue
		}
		r := float64(k.count(k.admitted, t-W, t)) / L
		sum += r
		st.samples++
		if heavy {
			st.min = min(st.min, r)
		}
	}
	if st.samples > 0 {
		st.mean = sum / float64(st.samples)
	}
	if st.min == 1e9 {
		st.min = 0
	}
	return st
}
