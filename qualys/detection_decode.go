package qualys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"

	"github.com/qualysbridge/qualysbridge/internal/xmlstream"
)

// DecodeDetections decodes a VM Host List Detection XML document, as saved
// from the API, one host at a time: each *DetectionHost is decoded,
// yielded and forgotten before the next is read, so memory is bounded by
// the largest host, never by the document. It yields the first error and
// stops; a SIMPLE_RETURN error document gives an *Error, malformed or
// truncated input a *DecodeError naming the last complete host. A
// truncation WARNING at the end of the document is not an error here (use
// Detections.List to follow it).
func DecodeDetections(r io.Reader) iter.Seq2[*DetectionHost, error] {
	return func(yield func(*DetectionHost, error) bool) {
		streamRecords(context.Background(), newDetectionDecoder(r, "").next, yield)
	}
}

// detectionDecoder walks a detection document with the xmlstream scanner,
// feeding typed fields directly.
// The same walk reads a Host List document (rootName HOST_LIST_OUTPUT),
// whose hosts carry no detections: nextListed decodes those.
type detectionDecoder struct {
	xdec
	rootName   string
	root       bool
	inHostList bool
	warning    *Warning
	done       bool
}

func newDetectionDecoder(r io.Reader, endpoint string) *detectionDecoder {
	return &detectionDecoder{xdec: xdec{s: newScanner(r), endpoint: endpoint, resumeParam: "id_min"}, rootName: "HOST_LIST_VM_DETECTION_OUTPUT"}
}

// next returns the next host, or nil at the end of the document.
func (d *detectionDecoder) next() (*DetectionHost, error) {
	ok, err := d.seekHost()
	if !ok || err != nil {
		return nil, err
	}
	before := d.s.Replaced
	d.beginRecord()
	h, err := d.decodeHost()
	d.endRecord()
	if err != nil {
		return nil, err
	}
	h.ReplacedChars = d.s.Replaced - before
	d.lastID = h.ID
	return h, nil
}

// seekHost advances to the start of the next <HOST> of the host list,
// reading the warning and refusing an error document on the way; false
// at the end of the document.
func (d *detectionDecoder) seekHost() (bool, error) {
	if d.done {
		return false, nil
	}
	for {
		k, err := d.s.Next()
		if err == io.EOF {
			d.done = true
			return false, nil
		}
		if err != nil {
			return false, d.fail("", err)
		}
		name := d.s.Name()
		if k == xmlstream.EndElement {
			if string(name) == "HOST_LIST" {
				d.inHostList = false
			}
			continue
		}
		switch string(name) {
		case "SIMPLE_RETURN", "GENERIC_RETURN":
			// An error document, as the whole body or appended after a
			// response that failed midway.
			return false, d.decodeErrorDoc(string(name))
		}
		if !d.root {
			d.root = true
			if string(name) != d.rootName {
				return false, d.fail(string(name), fmt.Errorf("unexpected root element <%s>, want <%s>", name, d.rootName))
			}
			continue
		}
		switch string(name) {
		case "HOST_LIST":
			d.inHostList = true
		case "HOST":
			if !d.inHostList {
				if err := d.s.Skip(); err != nil {
					return false, d.fail("HOST", err)
				}
				continue
			}
			return true, nil
		case "WARNING":
			w, err := d.decodeWarning()
			if err != nil {
				return false, err
			}
			d.warning = w
		case "RESPONSE", d.rootName:
			// Containers: descend.
		default:
			// REQUEST, DATETIME and anything new: not needed here.
			if err := d.s.Skip(); err != nil {
				return false, d.fail(string(name), err)
			}
		}
	}
}

func (d *detectionDecoder) decodeHost() (*DetectionHost, error) {
	h := &DetectionHost{}
	if err := d.decodeHostFields(h, nil); err != nil {
		return nil, err
	}
	return h, nil
}

// decodeHostFields reads a HOST's fields into h; extra, when set, is
// offered each field first (Host List's own) and says whether it took it.
func (d *detectionDecoder) decodeHostFields(h *DetectionHost, extra func(name []byte) (bool, error)) error {
	err := d.fields("HOST", func(name []byte) error {
		if extra != nil {
			if took, err := extra(name); took {
				return err
			}
		}
		var err error
		switch string(name) {
		case "ID":
			h.ID, err = d.int64()
		case "ASSET_ID":
			h.AssetID, err = d.int64()
		case "IP":
			h.IP, err = d.trimmedString()
		case "IPV6":
			h.IPv6, err = d.trimmedString()
		case "TRACKING_METHOD":
			h.TrackingMethod, err = d.trimmedString()
		case "NETWORK_ID":
			h.NetworkID, err = d.trimmedString()
		case "OS":
			h.OS, err = d.text()
		case "OS_CPE":
			h.OSCPE, err = d.text()
		case "DNS":
			h.DNS, err = d.text()
		case "DNS_DATA":
			err = d.fields("DNS_DATA", func(n []byte) error {
				var e error
				switch string(n) {
				case "HOSTNAME":
					h.DNSData.Hostname, e = d.text()
				case "DOMAIN":
					h.DNSData.Domain, e = d.text()
				case "FQDN":
					h.DNSData.FQDN, e = d.text()
				default:
					e = d.s.Skip()
				}
				return e
			})
		case "CLOUD_PROVIDER":
			h.CloudProvider, err = d.text()
		case "CLOUD_SERVICE":
			h.CloudService, err = d.text()
		case "CLOUD_RESOURCE_ID":
			h.CloudResourceID, err = d.text()
		case "EC2_INSTANCE_ID":
			h.EC2InstanceID, err = d.text()
		case "NETBIOS":
			h.NetBIOS, err = d.text()
		case "QG_HOSTID":
			h.QGHostID, err = d.trimmedString()
		case "LAST_SCAN_DATETIME":
			h.LastScan, err = d.time()
		case "LAST_VM_SCANNED_DATE":
			h.LastVMScanned, err = d.time()
		case "LAST_VM_SCANNED_DURATION":
			h.LastVMScannedDuration, err = d.seconds()
		case "LAST_VM_AUTH_SCANNED_DATE":
			h.LastVMAuthScanned, err = d.time()
		case "LAST_VM_AUTH_SCANNED_DURATION":
			h.LastVMAuthScannedDuration, err = d.seconds()
		case "LAST_PC_SCANNED_DATE":
			h.LastPCScanned, err = d.time()
		case "ASSET_GROUP_IDS":
			h.AssetGroupIDs, err = d.int64List()
		case "METADATA":
			err = d.decodeMetadata(&h.Metadata)
		case "CLOUD_PROVIDER_TAGS":
			err = listOf(&d.xdec, "CLOUD_PROVIDER_TAGS", "CLOUD_TAG", &h.CloudTags, func(t *CloudTag, n []byte) (e error) {
				switch string(n) {
				case "NAME":
					t.Name, e = d.text()
				case "VALUE":
					t.Value, e = d.text()
				case "LAST_SUCCESS_DATE":
					t.LastSuccessDate, e = d.time()
				default:
					e = d.s.Skip()
				}
				return e
			})
		case "TAGS":
			err = listOf(&d.xdec, "TAGS", "TAG", &h.Tags, func(t *Tag, n []byte) (e error) {
				switch string(n) {
				case "TAG_ID":
					t.ID, e = d.int64()
				case "NAME":
					t.Name, e = d.text()
				case "COLOR":
					t.Color, e = d.trimmedString()
				case "BACKGROUND_COLOR":
					t.BackgroundColor, e = d.trimmedString()
				default:
					e = d.s.Skip()
				}
				return e
			})
		case "DETECTION_LIST":
			err = d.fields("DETECTION_LIST", func(n []byte) error {
				if string(n) != "DETECTION" {
					return d.s.Skip()
				}
				if err := d.item(); err != nil {
					return err
				}
				h.Detections = append(h.Detections, Detection{})
				return d.decodeDetection(&h.Detections[len(h.Detections)-1])
			})
		default:
			err = d.s.Skip()
		}
		return err
	})
	if err != nil {
		return err
	}
	if h.ID == 0 {
		return d.fail("HOST", errors.New("host without an ID"))
	}
	return nil
}

func (d *detectionDecoder) decodeDetection(det *Detection) error {
	err := d.fields("DETECTION", func(name []byte) error {
		var err error
		switch string(name) {
		case "UNIQUE_VULN_ID":
			det.UniqueVulnID, err = d.int64()
		case "QID":
			det.QID, err = d.int64()
		case "TYPE":
			var v string
			v, err = d.trimmedString()
			det.Type = DetectionType(v)
		case "SEVERITY":
			det.Severity, err = d.smallInt()
		case "PORT":
			det.Port, err = d.smallInt()
		case "PROTOCOL":
			det.Protocol, err = d.trimmedString()
		case "FQDN":
			det.FQDN, err = d.text()
		case "SSL":
			det.SSL, err = d.flag()
		case "INSTANCE":
			det.Instance, err = d.text()
		case "RESULTS":
			det.Results, err = d.text()
		case "STATUS":
			var v string
			v, err = d.trimmedString()
			det.Status = DetectionStatus(v)
		case "SERVICE":
			det.Service, err = d.text()
		case "FIRST_FOUND_DATETIME":
			det.FirstFound, err = d.time()
		case "LAST_FOUND_DATETIME":
			det.LastFound, err = d.time()
		case "LAST_FIXED_DATETIME":
			det.LastFixed, err = d.time()
		case "FIRST_REOPENED_DATETIME":
			det.FirstReopened, err = d.time()
		case "LAST_REOPENED_DATETIME":
			det.LastReopened, err = d.time()
		case "LAST_TEST_DATETIME":
			det.LastTest, err = d.time()
		case "LAST_UPDATE_DATETIME":
			det.LastUpdate, err = d.time()
		case "LAST_PROCESSED_DATETIME":
			det.LastProcessed, err = d.time()
		case "TIMES_FOUND":
			det.TimesFound, err = d.smallInt()
		case "TIMES_REOPENED":
			det.TimesReopened, err = d.smallInt()
		case "IS_IGNORED":
			det.Ignored, err = d.flag()
		case "IS_DISABLED":
			det.Disabled, err = d.flag()
		case "AFFECT_RUNNING_KERNEL":
			det.AffectRunningKernel, err = d.trimmedString()
		case "AFFECT_RUNNING_SERVICE":
			det.AffectRunningService, err = d.trimmedString()
		case "AFFECT_EXPLOITABLE_CONFIG":
			det.AffectExploitableConfig, err = d.trimmedString()
		case "QDS":
			if v, ok := d.s.AttrBytes("severity"); ok {
				det.QDSSeverity = qdsSeverity(v)
			}
			det.QDS, err = d.smallInt()
		case "QDS_FACTORS":
			err = d.fields("QDS_FACTORS", func(n []byte) error {
				if string(n) != "QDS_FACTOR" {
					return d.s.Skip()
				}
				f := QDSFactor{}
				f.Name, _ = d.s.Attr("name")
				var e error
				f.Value, e = d.trimmedString()
				det.QDSFactors = append(det.QDSFactors, f)
				if e == nil {
					e = d.item()
				}
				return e
			})
		case "ASSET_CVE":
			det.AssetCVE, err = d.text()
		case "CVE", "CVE_LIST":
			err = d.decodeCVEs(det, string(name))
		case "VULNERABILITY_DETECTION_SOURCES":
			det.DetectionSources, err = d.trimmedString()
		case "LATEST_VULNERABILITY_DETECTION_SOURCE":
			det.LatestDetectionSource, err = d.trimmedString()
		case "MITRE_TACTIC_NAME":
			det.MitreTacticName, err = d.trimmedString()
		case "MITRE_TECHNIQUE_NAME":
			det.MitreTechniqueName, err = d.trimmedString()
		case "MITRE_TACTIC_ID":
			det.MitreTacticID, err = d.trimmedString()
		case "MITRE_TECHNIQUE_ID":
			det.MitreTechniqueID, err = d.trimmedString()
		case "TRURISK_ELIMINATION_STATUS":
			det.TruRiskEliminationStatus, err = d.trimmedString()
		default:
			err = d.s.Skip()
		}
		return err
	})
	if err == nil && det.CVEs == nil && det.AssetCVE != "" {
		det.CVEs, err = d.appendCVEs(nil, det.AssetCVE)
	}
	det.CVEs = dedupeStrings(det.CVEs)
	return err
}

// decodeCVEs reads the detection's CVE ids in either shape: a CVE element
// whose text holds comma-separated ids (repeated CVE elements add up), or
// a CVE_LIST of CVE elements with an ID child, as in the KnowledgeBase.
func (d *detectionDecoder) decodeCVEs(det *Detection, name string) error {
	if name == "CVE" {
		t, err := d.text()
		if err != nil {
			return err
		}
		det.CVEs, err = d.appendCVEs(det.CVEs, t)
		return err
	}
	return d.fields("CVE_LIST", func(n []byte) error {
		if string(n) != "CVE" {
			return d.s.Skip()
		}
		return d.fields("CVE", func(n []byte) error {
			if string(n) != "ID" {
				return d.s.Skip()
			}
			t, err := d.text()
			if err != nil {
				return err
			}
			det.CVEs, err = d.appendCVEs(det.CVEs, t)
			return err
		})
	})
}

// appendCVEs appends the comma- or space-separated ids in s, each counted
// against MaxRecordItems; duplicates are removed once the detection is
// read (dedupeStrings), so that reading n ids costs O(n), not O(n²).
func (d *detectionDecoder) appendCVEs(dst []string, s string) ([]string, error) {
	for f := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' }) {
		if err := d.item(); err != nil {
			return dst, err
		}
		dst = append(dst, f)
	}
	return dst, nil
}

// dedupeStrings removes repeated values, keeping the first of each, in
// linear time (a set only for long lists).
func dedupeStrings(s []string) []string {
	switch {
	case len(s) < 2:
		return s
	case len(s) <= 16:
		out := s[:0]
		for _, v := range s {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
		return out
	}
	seen := make(map[string]struct{}, len(s))
	out := s[:0]
	for _, v := range s {
		if _, dup := seen[v]; !dup {
			seen[v] = struct{}{}
			out = append(out, v)
		}
	}
	return out
}

// decodeMetadata reads METADATA/{EC2,AZURE,GOOGLE,ALICLOUD}/ATTRIBUTE.
func (d *detectionDecoder) decodeMetadata(m *HostMetadata) error {
	return d.fields("METADATA", func(n []byte) error {
		var dst *[]MetadataAttribute
		switch string(n) {
		case "EC2":
			dst = &m.EC2
		case "AZURE":
			dst = &m.Azure
		case "GOOGLE":
			dst = &m.Google
		case "ALICLOUD":
			dst = &m.AliCloud
		default:
			return d.s.Skip()
		}
		return listOf(&d.xdec, string(n), "ATTRIBUTE", dst, func(a *MetadataAttribute, n []byte) (e error) {
			switch string(n) {
			case "NAME":
				a.Name, e = d.text()
			case "LAST_STATUS":
				a.LastStatus, e = d.trimmedString()
			case "VALUE":
				a.Value, e = d.text()
			case "LAST_SUCCESS_DATE":
				a.LastSuccessDate, e = d.time()
			case "LAST_ERROR_DATE":
				a.LastErrorDate, e = d.time()
			case "LAST_ERROR":
				a.LastError, e = d.text()
			default:
				e = d.s.Skip()
			}
			return e
		})
	})
}

// qdsSeverity is a QDS severity attribute as a string, Qualys' four
// values without an allocation (a run reads one per detection).
func qdsSeverity(v []byte) string {
	switch string(v) {
	case "LOW":
		return "LOW"
	case "MEDIUM":
		return "MEDIUM"
	case "HIGH":
		return "HIGH"
	case "CRITICAL":
		return "CRITICAL"
	}
	return string(v)
}
