package qualys

import (
	"net/netip"
	"strings"
)

// SplitIPFilters checks host address filters as Host List Detection takes
// them and sorts them by family. Accepted: an IPv4 address ("10.0.0.1"), an
// IPv4 range ("10.0.0.1-10.0.0.9", low to high), an IPv4 CIDR block
// ("10.0.0.0/24", sent as the equivalent range, since Qualys documents
// ranges and not CIDR for ips) and an IPv6 address (sent in ipv6). Anything
// else is a *ConfigError quoting the value.
func SplitIPFilters(filters []string) (ipv4, ipv6 []string, err error) {
	for _, raw := range filters {
		f := strings.TrimSpace(raw)
		if f == "" {
			continue
		}
		bad := func(why string) error {
			return &ConfigError{Option: "IPs", Reason: quoteShort(raw) + " is not " + why}
		}
		switch {
		case strings.Contains(f, "/"):
			p, perr := netip.ParsePrefix(f)
			if perr != nil || !p.Addr().Is4() {
				return nil, nil, bad("an IPv4 CIDR block such as 10.0.0.0/24 (prefix 0-32)")
			}
			p = p.Masked()
			ipv4 = append(ipv4, p.Addr().String()+"-"+lastAddr(p).String())
		case strings.Contains(f, "-"):
			lo, hi, _ := strings.Cut(f, "-")
			a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
			b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
			if err1 != nil || err2 != nil || !a.Is4() || !b.Is4() {
				return nil, nil, bad("an IPv4 range such as 10.0.0.1-10.0.0.9")
			}
			if a.Compare(b) > 0 {
				return nil, nil, bad("a range from low to high")
			}
			ipv4 = append(ipv4, a.String()+"-"+b.String())
		default:
			a, perr := netip.ParseAddr(f)
			switch {
			case perr != nil || a.Zone() != "":
				return nil, nil, bad("an IPv4 or IPv6 address, an IPv4 range or an IPv4 CIDR block")
			case a.Is4():
				ipv4 = append(ipv4, a.String())
			case a.Is4In6():
				ipv4 = append(ipv4, a.Unmap().String())
			default:
				ipv6 = append(ipv6, a.String())
			}
		}
	}
	return ipv4, ipv6, nil
}

// lastAddr returns the highest address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := 32 - p.Bits()
	for i := 3; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	return netip.AddrFrom4(b)
}
