package qbrecord

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// Ext is the file name extension of a cassette: New(name) reads and
// writes name + Ext.
const Ext = ".jsonl"

// MaxExchangeBytes bounds one recorded exchange (its request and its
// answer, as written). A larger answer is not recorded (the request fails
// with an error saying so), and a cassette holding a larger exchange is
// refused when it is opened: a damaged or hostile cassette cannot make a
// replay hold more than this in memory.
const MaxExchangeBytes = 64 << 20

// cassetteHeader is the first line of every cassette.
const cassetteHeader = `{"qbrecord":1}`

// ErrCassette is the error (with errors.Is) of a cassette that cannot be
// replayed: not a qbrecord cassette, an exchange that is not valid JSON,
// or one larger than MaxExchangeBytes.
var ErrCassette = errors.New("qbrecord: unreadable cassette")

// exchange is one line of a cassette: a request and its answer, scrubbed.
type exchange struct {
	Request  recRequest  `json:"request"`
	Response recResponse `json:"response"`
}

type recRequest struct {
	Method string      `json:"method"`
	URL    string      `json:"url"`
	Header http.Header `json:"header,omitempty"`
	body
}

type recResponse struct {
	// Status is the status line's text ("200 OK"), scrubbed.
	Status  string      `json:"status"`
	Code    int         `json:"code"`
	Header  http.Header `json:"header,omitempty"`
	Trailer http.Header `json:"trailer,omitempty"`
	body
}

// body holds a body as text when it is valid UTF-8, else in base64.
type body struct {
	Body       string `json:"body,omitempty"`
	BodyBase64 string `json:"body_base64,omitempty"`
}

func (b *body) set(p []byte) {
	if utf8.Valid(p) {
		b.Body, b.BodyBase64 = string(p), ""
	} else {
		b.Body, b.BodyBase64 = "", base64.StdEncoding.EncodeToString(p)
	}
}

func (b *body) bytes() []byte {
	if b.BodyBase64 != "" {
		p, err := base64.StdEncoding.DecodeString(b.BodyBase64)
		if err == nil {
			return p
		}
	}
	return []byte(b.Body)
}

// privateDir makes dir (and its parents) with mode 0700 when it does not
// exist, and refuses a dir that is a symbolic link or not a directory.
func privateDir(dir string) error {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(dir, 0o700)
	case err != nil:
		return err
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("qbrecord: %s is a symbolic link; record into a real directory", dir)
	case !fi.IsDir():
		return fmt.Errorf("qbrecord: %s is not a directory", dir)
	}
	return nil
}

// writer appends exchanges to a temporary file beside the cassette; close
// moves it into place (a rename: a planted symlink at the cassette's name
// is replaced, never written through).
type writer struct {
	path, tmp string
	f         *os.File
	w         *bufio.Writer
}

func newWriter(path string) (*writer, error) {
	dir := filepath.Dir(path)
	if err := privateDir(dir); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	w := &writer{path: path, tmp: f.Name(), f: f, w: bufio.NewWriter(f)}
	if _, err := w.w.WriteString(cassetteHeader + "\n"); err != nil {
		w.abort()
		return nil, err
	}
	return w, nil
}

func (w *writer) write(x *exchange) error {
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	if len(b) > MaxExchangeBytes {
		return fmt.Errorf("qbrecord: an exchange of %d bytes is larger than MaxExchangeBytes (%d); not recorded", len(b), MaxExchangeBytes)
	}
	w.w.Write(b)
	return w.w.WriteByte('\n')
}

// close flushes the file and moves it into place.
func (w *writer) close() error {
	err := w.w.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.tmp, w.path)
	}
	if err != nil {
		os.Remove(w.tmp)
	}
	return err
}

func (w *writer) abort() {
	w.f.Close()
	os.Remove(w.tmp)
}

// scanCassette reads a cassette line by line, handing each exchange to fn
// with its byte span in the file; no line longer than MaxExchangeBytes is
// read.
func scanCassette(f *os.File, fn func(x *exchange, off, n int64) error) error {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), MaxExchangeBytes+1)
	var off int64
	line := 0
	for sc.Scan() {
		b := sc.Bytes()
		n := int64(len(b)) + 1
		line++
		if line == 1 {
			if string(bytes.TrimSpace(b)) != cassetteHeader {
				return fmt.Errorf("%w %s: not a qbrecord cassette (re-record it)", ErrCassette, f.Name())
			}
			off += n
			continue
		}
		if len(bytes.TrimSpace(b)) == 0 {
			off += n
			continue
		}
		var x exchange
		if err := json.Unmarshal(b, &x); err != nil {
			return fmt.Errorf("%w %s: exchange on line %d: %v", ErrCassette, f.Name(), line, err)
		}
		if err := fn(&x, off, int64(len(b))); err != nil {
			return err
		}
		off += n
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%w %s: exchange on line %d is larger than MaxExchangeBytes (%d)", ErrCassette, f.Name(), line+1, MaxExchangeBytes)
		}
		return fmt.Errorf("%w %s: %v", ErrCassette, f.Name(), err)
	}
	if line == 0 {
		return fmt.Errorf("%w %s: empty file", ErrCassette, f.Name())
	}
	return nil
}

// readExchange reads the exchange at a span found by scanCassette.
func readExchange(f *os.File, off, n int64) (*exchange, error) {
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var x exchange
	if err := json.Unmarshal(b, &x); err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrCassette, f.Name(), err)
	}
	return &x, nil
}
