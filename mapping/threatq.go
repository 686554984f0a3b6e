package mapping

import (
	"strconv"
	"time"

	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/threatq"
)

// ThreatQ attribute names of the operation's mapping table.
const (
	AttrLastScanDate  = "Last Scan Date"
	AttrQualysID      = "Qualys ID"
	AttrSeverity      = "Severity"
	AttrScanStatus    = "Scan Status"
	AttrScanType      = "Scan Type"
	AttrLastFoundDate = "Last Found Date"
)

// CurrentStateAttributes are the attributes that describe a host's state
// at its latest scan: on a re-run they replace the values stored before
// (updated in place; threatq.Asset.Current). The others, Qualys ID (one per
// QID the host was found vulnerable to), accumulate.
var CurrentStateAttributes = []string{AttrLastScanDate, AttrSeverity, AttrScanStatus, AttrScanType, AttrLastFoundDate}

// ThreatQOptions tunes ThreatQ.
type ThreatQOptions struct {
	// Source is the ThreatQ source name (default "Qualys").
	Source string
	// IndicatorIDs relates the asset to these indicators (the CVE's).
	IndicatorIDs []int64
}

// ThreatQ maps a vulnerable host to a ThreatQ Asset: the operation's table
// in the package documentation. No attribute appears twice with the same
// value. A host without an address gives an Asset with an empty Value,
// which callers skip.
func ThreatQ(h *qualys.DetectionHost, opts ThreatQOptions) threatq.Asset {
	if h == nil {
		return threatq.Asset{}
	}
	src := opts.Source
	if src == "" {
		src = "Qualys"
	}
	a := threatq.Asset{
		// Only a valid address becomes the Asset's value: text Qualys sent
		// in the IP field that is not one (a newline, a tab, a name) is
		// never stored (the Asset then has no value and is not stored).
		Value:       ThreatQValue(h),
		Sources:     []threatq.Source{{Name: src}},
		Indicators:  append([]int64(nil), opts.IndicatorIDs...),
		PublishedAt: h.LastScan,
		Current:     append([]string(nil), CurrentStateAttributes...),
	}
	if name := firstNonEmpty(h.DNS, h.NetBIOS); name != "" {
		a.Description = "Qualys host " + strconv.FormatInt(h.ID, 10) + " (" + name + ")"
	} else if h.ID != 0 {
		a.Description = "Qualys host " + strconv.FormatInt(h.ID, 10)
	}
	seen := map[[2]string]bool{}
	add := func(name, value string) {
		if value == "" || seen[[2]string{name, value}] {
			return
		}
		seen[[2]string{name, value}] = true
		a.Attributes = append(a.Attributes, threatq.Attribute{Name: name, Value: value})
	}
	add(AttrLastScanDate, tqTime(h.LastScan))
	var lastFound time.Time
	for _, d := range h.Detections {
		if d.QID > 0 {
			add(AttrQualysID, strconv.FormatInt(d.QID, 10))
		}
		if d.Severity > 0 {
			add(AttrSeverity, strconv.Itoa(d.Severity))
		}
		add(AttrScanStatus, string(d.Status))
		add(AttrScanType, string(d.Type))
		if d.LastFound.After(lastFound) {
			lastFound = d.LastFound
		}
	}
	add(AttrLastFoundDate, tqTime(lastFound))
	for _, t := range h.Tags {
		if t.Name != "" {
			a.Tags = append(a.Tags, t.Name)
		}
	}
	return a
}

// AttributeTimeLayout is the format of date attributes: ISO 8601 in UTC,
// as the operation's guide shows them ("2018-04-13T03:49:05Z").
const AttributeTimeLayout = "2006-01-02T15:04:05Z"

func tqTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(AttributeTimeLayout)
}

// ThreatQValue is the value of the Asset ThreatQ stores for a host: its
// IPv4 address, else its IPv6 address, normalised; "" when it has no
// valid address.
func ThreatQValue(h *qualys.DetectionHost) string {
	return firstNonEmpty(normIP(h.IP), normIP(h.IPv6))
}
