package qualys

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// scriptedPage is one scripted answer of a fake fetch.
type scriptedPage struct {
	page idPage
	err  error
}

// runScript runs an idPager whose fetch answers from script in order and
// records the cursor of every call.
func runScript(t *testing.T, ctx context.Context, start int64, script []scriptedPage) (afters []int64, pages []int64, err error) {
	t.Helper()
	c, _, _ := setup(t)
	p := &idPager{c: c, endpoint: "/test", action: "list", what: "test page", cursorName: "lastId",
		fetch: func(ctx context.Context, after int64) (idPage, error) {
			afters = append(afters, after)
			if len(afters) > len(script) {
				t.Fatalf("fetch called %d times, script has %d answers", len(afters), len(script))
			}
			s := script[len(afters)-1]
			return s.page, s.err
		},
		onPage: func(cursor int64, more bool) bool {
			pages = append(pages, cursor)
			return true
		}}
	err = p.run(ctx, start)
	return afters, pages, err
}

func cut(lastID int64) error {
	return &DecodeError{Endpoint: "/test", LastID: lastID, Err: io.ErrUnexpectedEOF}
}

func TestIDPager(t *testing.T) {
	t.Parallel()
	malformed := &DecodeError{Endpoint: "/test", Err: errors.New("bad value")}
	tests := []struct {
		name       string
		start      int64
		script     []scriptedPage
		wantAfters []int64
		wantPages  []int64
		wantErr    string // "" for none
	}{
		{name: "pages follow the announced cursor", start: 0,
			script:     []scriptedPage{{page: idPage{maxID: 10, next: 10, more: true}}, {page: idPage{maxID: 20, more: true}}, {page: idPage{maxID: 25}}},
			wantAfters: []int64{0, 10, 20}, wantPages: []int64{10, 20, 25}},
		{name: "a caller's start cursor is the first after", start: 7,
			script:     []scriptedPage{{page: idPage{maxID: 9}}},
			wantAfters: []int64{7}, wantPages: []int64{9}},
		{name: "a cut page resumes after the last record delivered", start: 0,
			script:     []scriptedPage{{page: idPage{maxID: 4}, err: cut(4)}, {page: idPage{maxID: 12, more: true}}, {page: idPage{}, err: cut(0)}, {page: idPage{maxID: 13}}},
			wantAfters: []int64{0, 4, 12, 12}, wantPages: []int64{12, 13}},
		{name: "resumes are bounded by the retry budget", start: 0,
			script:     []scriptedPage{{err: cut(0)}, {err: cut(0)}, {err: cut(0)}, {err: cut(0)}},
			wantAfters: []int64{0, 0, 0, 0}, wantErr: "unexpected EOF"},
		{name: "malformed content is not resumed", start: 0,
			script:     []scriptedPage{{page: idPage{maxID: 3}, err: malformed}},
			wantAfters: []int64{0}, wantErr: "bad value"},
		{name: "a transport error is not resumed by the pager", start: 0,
			script:     []scriptedPage{{err: &Error{Endpoint: "/test", StatusCode: 500}}},
			wantAfters: []int64{0}, wantErr: "500"},
		{name: "a cursor that does not advance is an error", start: 0,
			script:     []scriptedPage{{page: idPage{maxID: 5, more: true}}, {page: idPage{maxID: 0, next: 5, more: true}}},
			wantAfters: []int64{0, 5}, wantPages: []int64{5}, wantErr: "does not advance"},
		{name: "a cursor behind the page's records is an error", start: 0,
			script:     []scriptedPage{{page: idPage{maxID: 9, next: 3, more: true}}},
			wantAfters: []int64{0}, wantErr: "does not advance"},
		{name: "pages without records are bounded", start: 0,
			script:     []scriptedPage{{page: idPage{next: 1, more: true}}, {page: idPage{next: 2, more: true}}, {page: idPage{next: 3, more: true}}, {page: idPage{next: 4, more: true}}},
			wantAfters: []int64{0, 1, 2, 3}, wantPages: []int64{1, 2, 3}, wantErr: "without a record"},
		{name: "a stopped consumer ends without an error", start: 0,
			script:     []scriptedPage{{page: idPage{maxID: 2, more: true, stopped: true}, err: cut(2)}},
			wantAfters: []int64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			afters, pages, err := runScript(t, context.Background(), tt.start, tt.script)
			if diff := cmp.Diff(tt.wantAfters, afters); diff != "" {
				t.Errorf("cursors asked for (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPages, pages); diff != "" {
				t.Errorf("pages reported (-want +got):\n%s", diff)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// A cancelled context ends a resume with the context's error, not the cut.
func TestIDPagerCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	afters, _, err := runScript(t, ctx, 0, []scriptedPage{{err: cut(0)}})
	if !errors.Is(err, context.Canceled) || len(afters) != 1 {
		t.Fatalf("err %v after %d calls, want context.Canceled after 1", err, len(afters))
	}
}

// The consumer adapter yields records, remembers a stop and then swallows
// the error that follows it.
func TestConsumer(t *testing.T) {
	t.Parallel()
	var got []string
	c := &consumer[string]{yield: func(s string, err error) bool {
		if err != nil {
			got = append(got, "error: "+err.Error())
			return false
		}
		got = append(got, s)
		return s != "stop"
	}}
	c.fail(nil)
	if !c.put("a") || c.put("stop") || !c.stopped {
		t.Fatal("put did not report the consumer's stop")
	}
	c.fail(errors.New("late"))
	c2 := &consumer[string]{yield: c.yield}
	c2.fail(errors.New("first"))
	if diff := cmp.Diff([]string{"a", "stop", "error: first"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
