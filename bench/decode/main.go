// Command decode measures one detection decoder on a file and prints one
// JSON line: throughput, allocations per detection and peak RSS.
//
//	go run ./bench/decode -impl ours -file /tmp/detections.xml
//	go run ./bench/decode -impl encoding/xml -file /tmp/detections.xml
//
// "encoding/xml" is the standard library's per-host DecodeElement, the
// usual Go approach and the reference the project's decoder is checked
// against.
package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/qualys"
)

type result struct {
	Impl                string  `json:"impl"`
	MB                  float64 `json:"mb"`
	Seconds             float64 `json:"seconds"`
	MBps                float64 `json:"mb_per_s"`
	Hosts               int     `json:"hosts"`
	Detections          int     `json:"detections"`
	AllocsPerDetection  float64 `json:"allocs_per_detection"`
	PeakRSSMB           float64 `json:"peak_rss_mb"`
	PeakHeapInUseMB     float64 `json:"peak_heap_mb"`
	ReplacedCharacters  int     `json:"replaced_characters,omitempty"`
	EncodingXMLFailures int     `json:"encoding_xml_failures,omitempty"`
}

func main() {
	impl := flag.String("impl", "ours", "decoder: ours or encoding/xml")
	file := flag.String("file", "-", "detection XML file (- for standard input)")
	flag.Parse()
	var f io.Reader = os.Stdin
	size := int64(0)
	if *file != "-" {
		file, err := os.Open(*file)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer file.Close()
		st, _ := file.Stat()
		size = st.Size()
		f = file
	}
	cr := &counter{r: f}
	f = cr
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	mallocs := ms.Mallocs
	var peakHeap uint64
	sample := func() {
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapInuse)
	}
	r := result{Impl: *impl}
	start := time.Now()
	switch *impl {
	case "ours":
		for h, err := range qualys.DecodeDetections(f) {
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			r.Hosts++
			r.Detections += len(h.Detections)
			r.ReplacedCharacters += h.ReplacedChars
			if r.Hosts%5000 == 0 {
				sample()
			}
		}
	case "encoding/xml":
		decodeReference(f, &r, sample)
	default:
		fmt.Fprintln(os.Stderr, "unknown -impl", *impl)
		os.Exit(2)
	}
	r.Seconds = time.Since(start).Seconds()
	r.MB = float64(max(size, cr.n)) / 1e6
	sample()
	r.MBps = r.MB / r.Seconds
	if r.Detections > 0 {
		r.AllocsPerDetection = float64(ms.Mallocs-mallocs) / float64(r.Detections)
	}
	r.PeakRSSMB = peakRSS()
	r.PeakHeapInUseMB = float64(peakHeap) / (1 << 20)
	json.NewEncoder(os.Stdout).Encode(r)
}

// decodeReference decodes with encoding/xml into the reference types, the
// way a straightforward Go client would, counting into r.
func decodeReference(f io.Reader, r *result, sample func()) {
	d := xml.NewDecoder(bufio.NewReaderSize(f, 64<<10))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "HOST" {
			continue
		}
		var h refHost
		if err := d.DecodeElement(&h, &se); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		dh := h.convert()
		r.Hosts++
		r.Detections += len(dh.Detections)
		if r.Hosts%5000 == 0 {
			sample()
		}
	}
}

// counter counts the bytes read (for a piped stream).
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// peakRSS reads VmHWM from /proc (Linux); 0 elsewhere.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// refHost is the encoding/xml form of a HOST, decoded with struct tags.
type refHost struct {
	ID       int64  `xml:"ID"`
	IP       string `xml:"IP"`
	IPv6     string `xml:"IPV6"`
	Tracking string `xml:"TRACKING_METHOD"`
	OS       string `xml:"OS"`
	DNS      string `xml:"DNS"`
	NetBIOS  string `xml:"NETBIOS"`
	QGHostID string `xml:"QG_HOSTID"`
	LastScan string `xml:"LAST_SCAN_DATETIME"`
	Tags     []struct {
		ID   int64  `xml:"TAG_ID"`
		Name string `xml:"NAME"`
	} `xml:"TAGS>TAG"`
	Detections []struct {
		UniqueVulnID int64  `xml:"UNIQUE_VULN_ID"`
		QID          int64  `xml:"QID"`
		Type         string `xml:"TYPE"`
		Severity     int    `xml:"SEVERITY"`
		Port         int    `xml:"PORT"`
		Protocol     string `xml:"PROTOCOL"`
		SSL          int    `xml:"SSL"`
		Results      string `xml:"RESULTS"`
		Status       string `xml:"STATUS"`
		FirstFound   string `xml:"FIRST_FOUND_DATETIME"`
		LastFound    string `xml:"LAST_FOUND_DATETIME"`
		TimesFound   int    `xml:"TIMES_FOUND"`
		LastTest     string `xml:"LAST_TEST_DATETIME"`
		LastUpdate   string `xml:"LAST_UPDATE_DATETIME"`
		LastProc     string `xml:"LAST_PROCESSED_DATETIME"`
	} `xml:"DETECTION_LIST>DETECTION"`
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, strings.TrimSpace(s))
	return t
}

// convert builds the same typed value the project's decoder yields, so
// the comparison includes the same work.
func (h *refHost) convert() *qualys.DetectionHost {
	out := &qualys.DetectionHost{ID: h.ID, IP: h.IP, IPv6: h.IPv6, TrackingMethod: h.Tracking, OS: strings.TrimSpace(h.OS),
		DNS: strings.TrimSpace(h.DNS), NetBIOS: strings.TrimSpace(h.NetBIOS), QGHostID: strings.TrimSpace(h.QGHostID), LastScan: parseTime(h.LastScan)}
	for _, t := range h.Tags {
		out.Tags = append(out.Tags, qualys.Tag{ID: t.ID, Name: strings.TrimSpace(t.Name)})
	}
	out.Detections = make([]qualys.Detection, 0, len(h.Detections))
	for _, d := range h.Detections {
		out.Detections = append(out.Detections, qualys.Detection{UniqueVulnID: d.UniqueVulnID, QID: d.QID, Type: qualys.DetectionType(d.Type), Severity: d.Severity,
			Port: d.Port, Protocol: d.Protocol, SSL: d.SSL == 1, Results: d.Results, Status: qualys.DetectionStatus(d.Status),
			FirstFound: parseTime(d.FirstFound), LastFound: parseTime(d.LastFound), TimesFound: d.TimesFound,
			LastTest: parseTime(d.LastTest), LastUpdate: parseTime(d.LastUpdate), LastProcessed: parseTime(d.LastProc)})
	}
	return out
}
