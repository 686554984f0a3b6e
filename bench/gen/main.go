// Command gen writes a deterministic Host List Detection XML document of a
// given size, in constant memory, for the benchmarks.
//
//	go run ./bench/gen -hosts 20000 -detections 30 -o /tmp/detections.xml
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

func main() {
	hosts := flag.Int("hosts", 20000, "hosts in the document")
	dets := flag.Int("detections", 30, "detections per host")
	seed := flag.Int64("seed", 1, "generator seed")
	indent := flag.Bool("indent", false, "pretty-print the document")
	out := flag.String("o", "-", "output file (- for stdout)")
	flag.Parse()
	w := io.Writer(os.Stdout)
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	n, err := io.Copy(bw, qualystest.DetectionStream(*seed, *hosts, *dets, *indent))
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "gen: %d hosts x %d detections, %.1f MB\n", *hosts, *dets, float64(n)/1e6)
}
