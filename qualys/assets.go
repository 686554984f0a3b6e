package qualys

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// AssetService reads gateway (CSAM) assets with their installed software:
// POST {gateway}/rest/2.0/search/am/asset, authenticated with a JWT from
// the gateway's /auth that is renewed before it expires and once on 401.
type AssetService struct{ c *Client }

// MaxAssetPageSize is the largest page the gateway asset API serves.
const MaxAssetPageSize = 300

// AssetQuery selects gateway assets.
type AssetQuery struct {
	// SoftwareType filters the software list (default "Application").
	SoftwareType string
	// UpdatedSince keeps assets updated since then (assetLastUpdated).
	UpdatedSince time.Time
	// PageSize is 1 to MaxAssetPageSize (default the maximum).
	PageSize int
	// AfterID resumes after this asset id (lastSeenAssetId).
	AfterID int64
}

// Asset is a gateway asset with its installed software.
type Asset struct {
	AssetID      int64               `json:"asset_id,omitzero"` // equals the QPS HostAsset id
	HostID       int64               `json:"host_id,omitzero"`  // the VM host id (qwebHostId)
	Name         string              `json:"name,omitzero"`
	Address      string              `json:"address,omitzero"`
	DNSName      string              `json:"dns_name,omitzero"`
	LastModified time.Time           `json:"last_modified,omitzero"`
	Software     []InstalledSoftware `json:"software,omitzero"`
}

// InstalledSoftware is one entry of an asset's software list.
type InstalledSoftware struct {
	ID           int64  `json:"id,omitzero"`
	FullName     string `json:"full_name,omitzero"`
	ProductName  string `json:"product_name,omitzero"`
	Version      string `json:"version,omitzero"`
	Publisher    string `json:"publisher,omitzero"`
	Category     string `json:"category,omitzero"`
	SoftwareType string `json:"software_type,omitzero"`
}

type wireAsset struct {
	AssetID      flexInt    `json:"assetId"`
	HostID       flexInt    `json:"hostId"`
	AssetName    flexString `json:"assetName"`
	Address      flexString `json:"address"`
	DNSName      flexString `json:"dnsName"`
	LastModified flexTime   `json:"lastModifiedDate"`
	Software     *struct {
		Software oneOrMany[struct {
			ID           flexInt    `json:"id"`
			FullName     flexString `json:"fullName"`
			ProductName  flexString `json:"productName"`
			Version      flexString `json:"version"`
			Publisher    flexString `json:"publisher"`
			Category     flexString `json:"category"`
			SoftwareType flexString `json:"softwareType"`
		}] `json:"software"`
	} `json:"softwareListData"`
}

// List streams gateway assets with their software, paging by
// lastSeenAssetId while the API says hasMore. It yields the first error and
// stops; breaking out of the loop stops fetching.
func (s *AssetService) List(ctx context.Context, q *AssetQuery) iter.Seq2[*Asset, error] {
	var qc AssetQuery
	if q != nil {
		qc = *q
	}
	return func(yield func(*Asset, error) bool) {
		out := &consumer[*Asset]{yield: scrubbed(s.c, yield)}
		if qc.PageSize < 0 || qc.PageSize > MaxAssetPageSize {
			out.fail(&ConfigError{Option: "AssetQuery.PageSize", Reason: fmt.Sprintf("want 1-%d (0 for the maximum)", MaxAssetPageSize)})
			return
		}
		size := qc.PageSize
		if size == 0 {
			size = MaxAssetPageSize
		}
		st := qc.SoftwareType
		if st == "" {
			st = "Application"
		}
		path := "/rest/2.0/search/am/asset"
		if s.c.gateway != nil {
			path = s.c.gateway.Path + path
		}
		p := &idPager{c: s.c, endpoint: path, action: "search", what: "gateway asset page", cursorName: "lastSeenAssetId",
			fetch: func(ctx context.Context, after int64) (idPage, error) {
				v := url.Values{"pageSize": {strconv.Itoa(size)}, "softwareType": {st}}
				if !qc.UpdatedSince.IsZero() {
					v.Set("assetLastUpdated", qualysTime(qc.UpdatedSince))
				}
				if after > 0 {
					v.Set("lastSeenAssetId", strconv.FormatInt(after, 10))
				}
				resp, err := s.c.do(ctx, &apiRequest{method: "POST", path: path, gateway: true, bearer: true, query: v,
					accept: "application/json", action: "search", idempotent: true})
				if err != nil {
					return idPage{}, err
				}
				defer resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					return idPage{}, nil // nothing (more) to list
				}
				meta, err := decodeGatewayPage(resp.Body, path, out.put)
				return idPage{maxID: meta.maxID, next: meta.lastID, more: meta.hasMore, stopped: out.stopped}, err
			}}
		out.fail(p.run(ctx, qc.AfterID))
	}
}

// decodeGatewayPage streams one gateway search response.
func decodeGatewayPage(body io.Reader, path string, onAsset func(*Asset) bool) (qpsMeta, error) {
	var meta qpsMeta
	br := bufio.NewReaderSize(body, 32<<10)
	head, _ := br.Peek(512)
	trimmed := bytes.TrimSpace(head)
	if len(trimmed) == 0 {
		return meta, nil // the API answers an empty body when there is nothing
	}
	if trimmed[0] != '{' {
		all, _ := io.ReadAll(io.LimitReader(br, maxErrorBody))
		e := &Error{Endpoint: path, Action: "search"}
		fillError(e, "", all)
		return meta, e
	}
	rr := &recordReader{r: br}
	dec := json.NewDecoder(rr)
	fail := func(what string, err error) error {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return &DecodeError{Endpoint: path, Element: what, LastID: meta.maxID, Offset: dec.InputOffset(), Err: err}
	}
	if err := expectDelim(dec, '{'); err != nil {
		return meta, fail("response", err)
	}
	code, message := "", ""
	for dec.More() {
		tk, err := dec.Token()
		if err != nil {
			return meta, fail("response", err)
		}
		k, _ := tk.(string)
		switch k {
		case "responseCode":
			var v flexString
			rr.next()
			if err := dec.Decode(&v); err != nil {
				return meta, fail(k, err)
			}
			code = string(v)
		case "responseMessage":
			var v flexString
			rr.next()
			if err := dec.Decode(&v); err != nil {
				return meta, fail(k, err)
			}
			message = string(v)
		case "hasMore":
			var v flexBool
			rr.next()
			if err := dec.Decode(&v); err != nil {
				return meta, fail(k, err)
			}
			meta.hasMore = bool(v)
		case "lastSeenAssetId":
			var v flexInt
			rr.next()
			if err := dec.Decode(&v); err != nil {
				return meta, fail(k, err)
			}
			meta.lastID = int64(v)
		case "count":
			var v flexInt
			rr.next()
			if err := dec.Decode(&v); err != nil {
				return meta, fail(k, err)
			}
			if v < 0 {
				return meta, fail("count", fmt.Errorf("negative count %d", v))
			}
			meta.count = int(v)
		case "assetListData":
			if err := expectDelimOrNull(dec, '{'); err != nil {
				if err == errNull {
					continue
				}
				return meta, fail(k, err)
			}
			for dec.More() {
				tk, err := dec.Token()
				if err != nil {
					return meta, fail(k, err)
				}
				if tk != "asset" {
					var skip json.RawMessage
					rr.next()
					if err := dec.Decode(&skip); err != nil {
						return meta, fail(k, err)
					}
					continue
				}
				if err := expectDelimOrNull(dec, '['); err != nil {
					if err == errNull {
						continue
					}
					return meta, fail("asset", err)
				}
				for dec.More() {
					var w wireAsset
					rr.next()
					if err := dec.Decode(&w); err != nil {
						return meta, fail("asset", err)
					}
					a := &Asset{AssetID: int64(w.AssetID), HostID: int64(w.HostID), Name: string(w.AssetName),
						Address: string(w.Address), DNSName: string(w.DNSName), LastModified: time.Time(w.LastModified)}
					if w.Software != nil {
						for _, sw := range w.Software.Software {
							a.Software = append(a.Software, InstalledSoftware{ID: int64(sw.ID), FullName: string(sw.FullName),
								ProductName: string(sw.ProductName), Version: string(sw.Version), Publisher: string(sw.Publisher),
								Category: string(sw.Category), SoftwareType: string(sw.SoftwareType)})
						}
					}
					if a.AssetID <= 0 {
						return meta, fail("asset", fmt.Errorf("asset without a positive assetId"))
					}
					if len(a.Software) > recordItemsLimit {
						return meta, fail("asset", fmt.Errorf("%w: asset %d has %d software items (MaxRecordItems %d)", ErrRecordTooLarge, a.AssetID, len(a.Software), recordItemsLimit))
					}
					meta.maxID = max(meta.maxID, a.AssetID)
					if !onAsset(a) {
						meta.stopped = true
						return meta, nil
					}
				}
				if _, err := dec.Token(); err != nil {
					return meta, fail("asset", err)
				}
			}
			if _, err := dec.Token(); err != nil {
				return meta, fail(k, err)
			}
		default:
			var skip json.RawMessage
			rr.next()
			if err := dec.Decode(&skip); err != nil {
				return meta, fail(k, err)
			}
		}
	}
	if code != "" && code != "SUCCESS" {
		return meta, &Error{Endpoint: path, Action: "search", Code: code, Text: firstNonEmpty(message, "gateway request failed")}
	}
	return meta, nil
}

var errNull = fmt.Errorf("null")

func expectDelimOrNull(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t == nil {
		return errNull
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %v", want, t)
	}
	return nil
}

// DecodeAssets decodes a saved gateway asset search response (JSON) one
// asset at a time.
func DecodeAssets(r io.Reader) iter.Seq2[*Asset, error] {
	return func(yield func(*Asset, error) bool) {
		out := &consumer[*Asset]{yield: yield}
		_, err := decodeGatewayPage(r, "", out.put)
		out.fail(err)
	}
}
