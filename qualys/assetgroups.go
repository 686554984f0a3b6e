package qualys

import (
	"context"
	"fmt"
	"io"
	"iter"
	"strconv"

	"github.com/google/go-querystring/query"
	"github.com/qualysbridge/qualysbridge/internal/xmlstream"
)

// AssetGroupService lists asset groups (/api/2.0/fo/asset/group/ by
// default; see EndpointAssetGroups).
type AssetGroupService struct{ c *Client }

// AssetGroup is an asset group as listed by the API.
type AssetGroup struct {
	ID    int64
	Title string
}

// AssetGroupQuery filters AssetGroups.List.
type AssetGroupQuery struct {
	IDs []int64 `url:"ids,comma,omitempty"`
	// Title keeps the group with exactly this title.
	Title string `url:"title,omitempty"`
	// TruncationLimit is groups per response (the API's default is 1000).
	TruncationLimit int `url:"truncation_limit,omitempty"`
}

// List streams asset groups with their id and title, following the
// truncation warning by id_min as Host List Detection does.
func (s *AssetGroupService) List(ctx context.Context, q *AssetGroupQuery) iter.Seq2[*AssetGroup, error] {
	var qc AssetGroupQuery
	if q != nil {
		qc = *q
	}
	return func(yield func(*AssetGroup, error) bool) {
		yield = scrubbed(s.c, yield)
		form, err := query.Values(&qc)
		if err != nil {
			yield(nil, &ConfigError{Option: "AssetGroupQuery", Reason: err.Error()})
			return
		}
		form.Set("action", "list")
		form.Set("show_attributes", "ID,TITLE")
		path := s.c.EndpointPath(EndpointAssetGroups)
		var last int64 // the last group yielded, across pages and resumes
		p := &idPager{c: s.c, endpoint: path, action: "list", what: "asset group page", cursorName: "truncation URL id_min", inclusive: true,
			fetch: func(ctx context.Context, after int64) (idPage, error) {
				f := form
				if after > 0 {
					f = withParam(form, "id_min", strconv.FormatInt(after+1, 10))
				}
				resp, err := s.c.postFO(ctx, EndpointAssetGroups, "list", f, true)
				if err != nil {
					return idPage{}, err
				}
				defer resp.Body.Close()
				var pg idPage
				var failed error
				d := &assetGroupDecoder{xdec: xdec{s: newScanner(resp.Body), endpoint: path}}
				streamRecords(ctx, rooted(&d.xdec, d.next, "ASSET_GROUP_LIST_OUTPUT"), func(g *AssetGroup, err error) bool {
					switch {
					case err != nil:
						failed = err
					case g.ID <= last:
						failed = &Error{Endpoint: path, Action: "list", Message: fmt.Sprintf("asset group %d after %d: not in ascending id order; stopping", g.ID, last)}
					default:
						last, pg.maxID = g.ID, g.ID
						pg.stopped = !yield(g, nil)
						return !pg.stopped
					}
					return false
				})
				if pg.stopped || failed != nil {
					return pg, failed
				}
				w := d.warning
				if w == nil || w.URL == "" {
					if w != nil && w.Code == "1980" {
						return pg, &Error{Endpoint: path, Action: "list", Code: w.Code, Message: "truncated response (code 1980) without the URL of the next page"}
					}
					return pg, nil
				}
				_, idMin, err := nextPageForm(form, w.URL)
				if err != nil {
					return pg, &Error{Endpoint: path, Action: "list", Code: w.Code, Message: "truncation URL that cannot be used: " + err.Error()}
				}
				pg.next, pg.more = idMin-1, true
				return pg, nil
			}}
		if err := p.run(ctx, 0); err != nil {
			yield(nil, err)
		}
	}
}

// ResolveTitles returns the ids of the asset groups with exactly these
// titles, in the order given, with one listing. A title no group has is a
// *ConfigError naming it.
func (s *AssetGroupService) ResolveTitles(ctx context.Context, titles []string) ([]int64, error) {
	if len(titles) == 0 {
		return nil, nil
	}
	found := map[string]int64{}
	for g, err := range s.List(ctx, nil) {
		if err != nil {
			return nil, err
		}
		for _, t := range titles {
			if g.Title == t {
				if _, dup := found[t]; !dup {
					found[t] = g.ID
				}
			}
		}
	}
	ids := make([]int64, 0, len(titles))
	for _, t := range titles {
		id, ok := found[t]
		if !ok {
			return nil, &ConfigError{Option: "asset group", Reason: "no asset group is titled " + strconv.Quote(t) + " (titles match exactly, case included)"}
		}
		ids = append(ids, id)
	}
	return ids, nil
}

type assetGroupDecoder struct {
	xdec
	warning *Warning
}

func (d *assetGroupDecoder) next() (*AssetGroup, error) {
	for {
		k, err := d.s.Next()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, d.fail("", err)
		}
		if k != xmlstream.StartElement {
			continue
		}
		switch name := string(d.s.Name()); name {
		case "ASSET_GROUP":
			return d.group()
		case "WARNING":
			if d.warning, err = d.decodeWarning(); err != nil {
				return nil, err
			}
		case "RESPONSE", "ASSET_GROUP_LIST":
		case "SIMPLE_RETURN", "GENERIC_RETURN":
			return nil, d.decodeErrorDoc(name)
		default:
			if err := d.s.Skip(); err != nil {
				return nil, d.fail(name, err)
			}
		}
	}
}

func (d *assetGroupDecoder) group() (*AssetGroup, error) {
	g := &AssetGroup{}
	d.beginRecord()
	err := d.fields("ASSET_GROUP", func(n []byte) error {
		var e error
		switch string(n) {
		case "ID":
			g.ID, e = d.int64()
		case "TITLE":
			g.Title, e = d.text()
		default:
			e = d.s.Skip()
		}
		return e
	})
	d.endRecord()
	if err != nil {
		return nil, err
	}
	if g.ID <= 0 {
		return nil, d.fail("ASSET_GROUP", fmt.Errorf("asset group without a positive ID"))
	}
	d.lastID = g.ID
	return g, nil
}
