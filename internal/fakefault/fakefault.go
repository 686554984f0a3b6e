// Package fakefault is the firing rule the injected faults of all three
// fakes (qualystest, cartest, threatqtest) share, so that a fault's Call
// means the same thing everywhere: a fault picks one matching request by
// its 1-based number counted from when the fault was injected (Call), or
// fires on every matching request up to a bound (Times, 0 for none).
package fakefault

// Counter counts one fault's matching requests and firings. The zero
// value is ready; it is not safe for concurrent use (the fakes hold their
// lock).
type Counter struct {
	seen, fired int
}

// Fire counts a matching request and reports whether the fault fires on
// it: on request number call when call is not 0, else on every request
// until it has fired times times (times 0: always).
func (c *Counter) Fire(call, times int) bool {
	c.seen++
	if call != 0 {
		if call != c.seen {
			return false
		}
	} else if times > 0 && c.fired >= times {
		return false
	}
	c.fired++
	return true
}

// Fired is how many times the fault fired.
func (c *Counter) Fired() int { return c.fired }

// Pick returns the fault a request triggers. Every fault that matches the
// request counts it, whether or not an earlier one fires, so that a
// fault's Call numbers the requests it matches whatever other faults do;
// the first matching fault that fires is returned. match reports whether
// a fault matches the request and gives its counter and firing rule.
func Pick[F any](faults []F, match func(F) (c *Counter, call, times int, ok bool)) (picked F, fired bool) {
	for _, f := range faults {
		c, call, times, ok := match(f)
		if !ok {
			continue
		}
		if c.Fire(call, times) && !fired {
			picked, fired = f, true
		}
	}
	return picked, fired
}
