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
	// AttrQDS and AttrTruRiskScore are added with ThreatQOptions.Scores.
	AttrQDS          = "QDS"
	AttrTruRiskScore = "TruRisk Score"
)

// ScoreAttributes are the current-state attributes ThreatQOptions.Scores
// adds: the host's highest Qualys Detection Score among the detections
// mapped (1-100; detections listed with show_qds=1) and its TruRisk score
// (0-1000; AddTruRisk, from the Host List).
var ScoreAttributes = []string{AttrQDS, AttrTruRiskScore}

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
	// Scores adds the ScoreAttributes as current-state attributes: QDS
	// here, TruRisk Score with AddTruRisk. Off, the Asset carries the
	// operation's guide's attributes only, and stored score attributes
	// are left as they are.
	Scores bool
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
	if opts.Scores {
		a.Current = append(a.Current, ScoreAttributes...)
		top := 0
		for _, d := range h.Detections {
			top = max(top, d.QDS)
		}
		if top > 0 {
			add(AttrQDS, strconv.Itoa(min(top, 100)))
		}
	}
	for _, t := range h.Tags {
		if t.Name != "" {
			a.Tags = append(a.Tags, t.Name)
		}
	}
	return a
}

// AddTruRisk adds a host's TruRisk score (a Host List host, whose ID is
// the detection host's) to its Asset as the TruRisk Score attribute; a
// host without a score adds nothing.
func AddTruRisk(a *threatq.Asset, h *qualys.Host) {
	if a == nil || h == nil || h.TruRisk == nil {
		return
	}
	v := strconv.Itoa(min(max(*h.TruRisk, 0), 1000))
	for _, at := range a.Attributes {
		if at.Name == AttrTruRiskScore && at.Value == v {
			return
		}
	}
	a.Attributes = append(a.Attributes, threatq.Attribute{Name: AttrTruRiskScore, Value: v})
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
