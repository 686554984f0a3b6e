// Package fakefault is the firing rule the fakes' injected faults share:
// a fault picks one matching request by its 1-based number (Call), or
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
