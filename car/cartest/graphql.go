package cartest

import (
	"cmp"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The GraphQL subset the fake answers, parsed for real rather than matched
// with patterns: a query is one selection set of root fields, each
//
//	[alias:] <collection>(where: <filter>) { <field>, ... }
//
// and a filter is an object of conditions, all of which must hold:
//
//	{<field>: {<op>: <value>}, _and: [<filter>, ...], _or: [<filter>, ...]}
//
// with the operators _eq, _neq, _in, _nin, _lt, _lte, _gt, _gte (Hasura's
// names, which CAR's v3 API uses; IBM's connectors send _eq, _in, _and and
// _lte). Anything else is refused with a GraphQL error naming it, as a
// server refuses a query it cannot validate: never answered with an
// empty result.

// gqlField is one root field of a query.
type gqlField struct {
	alias, name string
	where       map[string]any
	fields      []string
}

// gqlParser reads the subset.
type gqlParser struct {
	s   string
	pos int
}

func (p *gqlParser) errorf(format string, args ...any) error {
	return fmt.Errorf("syntax error at offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *gqlParser) skip() {
	for p.pos < len(p.s) {
		switch c := p.s[p.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			p.pos++
		case c == '#':
			for p.pos < len(p.s) && p.s[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *gqlParser) peek() byte {
	p.skip()
	if p.pos >= len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

func (p *gqlParser) expect(c byte) error {
	if p.peek() != c {
		return p.errorf("want %q", c)
	}
	p.pos++
	return nil
}

func (p *gqlParser) name() (string, error) {
	p.skip()
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || p.pos > start && c >= '0' && c <= '9' {
			p.pos++
			continue
		}
		break
	}
	if p.pos == start {
		return "", p.errorf("want a name")
	}
	return p.s[start:p.pos], nil
}

// parseQuery reads "[query [Name]] { field ... }".
func parseQuery(q string) ([]gqlField, error) {
	p := &gqlParser{s: q}
	if c := p.peek(); c != '{' {
		kw, err := p.name()
		if err != nil || kw != "query" {
			return nil, p.errorf("want { or query")
		}
		if p.peek() != '{' {
			if _, err := p.name(); err != nil {
				return nil, err
			}
		}
	}
	if err := p.expect('{'); err != nil {
		return nil, err
	}
	var out []gqlField
	for p.peek() != '}' {
		if p.peek() == 0 {
			return nil, p.errorf("unterminated selection set")
		}
		f, err := p.field()
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	p.pos++
	if p.peek() != 0 {
		return nil, p.errorf("text after the query")
	}
	if len(out) == 0 {
		return nil, p.errorf("empty selection set")
	}
	return out, nil
}

func (p *gqlParser) field() (gqlField, error) {
	var f gqlField
	n, err := p.name()
	if err != nil {
		return f, err
	}
	f.name = n
	if p.peek() == ':' {
		p.pos++
		f.alias = n
		if f.name, err = p.name(); err != nil {
			return f, err
		}
	}
	if p.peek() == '(' {
		p.pos++
		for p.peek() != ')' {
			arg, err := p.name()
			if err != nil {
				return f, err
			}
			if err := p.expect(':'); err != nil {
				return f, err
			}
			v, err := p.value()
			if err != nil {
				return f, err
			}
			if arg != "where" {
				return f, fmt.Errorf("argument %q of %s is not supported (only where)", arg, f.name)
			}
			w, ok := v.(map[string]any)
			if !ok {
				return f, fmt.Errorf("where of %s must be an object", f.name)
			}
			f.where = w
		}
		p.pos++
	}
	if err := p.expect('{'); err != nil {
		return f, err
	}
	for p.peek() != '}' {
		n, err := p.name()
		if err != nil {
			return f, err
		}
		if p.peek() == '{' || p.peek() == '(' {
			return f, fmt.Errorf("nested selection %s.%s is not supported", f.name, n)
		}
		f.fields = append(f.fields, n)
	}
	p.pos++
	return f, nil
}

// value reads an object, a list, a string, a number, true, false or null.
func (p *gqlParser) value() (any, error) {
	switch c := p.peek(); {
	case c == '{':
		p.pos++
		m := map[string]any{}
		for p.peek() != '}' {
			if p.peek() == 0 {
				return nil, p.errorf("unterminated object")
			}
			k, err := p.name()
			if err != nil {
				return nil, err
			}
			if err := p.expect(':'); err != nil {
				return nil, err
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		p.pos++
		return m, nil
	case c == '[':
		p.pos++
		var l []any
		for p.peek() != ']' {
			if p.peek() == 0 {
				return nil, p.errorf("unterminated list")
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		p.pos++
		return l, nil
	case c == '"':
		start := p.pos
		p.pos++
		for p.pos < len(p.s) && p.s[p.pos] != '"' {
			if p.s[p.pos] == '\\' {
				p.pos++
			}
			p.pos++
		}
		if p.pos >= len(p.s) {
			return nil, p.errorf("unterminated string")
		}
		p.pos++
		s, err := strconv.Unquote(p.s[start:p.pos])
		if err != nil {
			return nil, p.errorf("bad string")
		}
		return s, nil
	case c == '-' || c >= '0' && c <= '9':
		start := p.pos
		p.pos++
		for p.pos < len(p.s) && strings.IndexByte("0123456789.eE+-", p.s[p.pos]) >= 0 {
			p.pos++
		}
		f, err := strconv.ParseFloat(p.s[start:p.pos], 64)
		if err != nil {
			return nil, p.errorf("bad number")
		}
		return f, nil
	case c == 0:
		return nil, p.errorf("want a value")
	}
	n, err := p.name()
	if err != nil {
		return nil, err
	}
	switch n {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	return nil, fmt.Errorf("value %s is not supported (enums and variables are not)", n)
}

// predicate is a compiled filter.
type predicate func(get func(field string) (any, bool)) bool

// compile turns a filter into a predicate, checking its operators once (an
// _in list becomes a set).
func compile(where map[string]any) (predicate, error) {
	var preds []predicate
	for k, cond := range where {
		switch k {
		case "_and", "_or":
			list, ok := cond.([]any)
			if !ok {
				return nil, fmt.Errorf("%s takes a list of filters", k)
			}
			var subs []predicate
			for _, c := range list {
				sub, ok := c.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s takes a list of filters", k)
				}
				p, err := compile(sub)
				if err != nil {
					return nil, err
				}
				subs = append(subs, p)
			}
			and := k == "_and"
			preds = append(preds, func(get func(string) (any, bool)) bool {
				for _, p := range subs {
					if p(get) != and {
						return !and
					}
				}
				return and || len(subs) == 0
			})
			continue
		}
		ops, ok := cond.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("condition on %s must be an object of operators", k)
		}
		for op, arg := range ops {
			p, err := compileOp(k, op, arg)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			preds = append(preds, p)
		}
	}
	return func(get func(string) (any, bool)) bool {
		for _, p := range preds {
			if !p(get) {
				return false
			}
		}
		return true
	}, nil
}

// compileOp compiles one operator on a field.
func compileOp(field, op string, arg any) (predicate, error) {
	val := func(get func(string) (any, bool)) any {
		v, _ := get(field)
		return v
	}
	switch op {
	case "_eq", "_neq":
		eq := op == "_eq"
		return func(get func(string) (any, bool)) bool { return equal(val(get), arg) == eq }, nil
	case "_in", "_nin":
		list, ok := arg.([]any)
		if !ok {
			return nil, fmt.Errorf("%s takes a list", op)
		}
		set := map[string]bool{}
		for _, a := range list {
			if k, ok := setKey(a); ok {
				set[k] = true
			}
		}
		in := op == "_in"
		return func(get func(string) (any, bool)) bool {
			k, ok := setKey(val(get))
			return (ok && set[k]) == in
		}, nil
	case "_lt", "_lte", "_gt", "_gte":
		switch arg.(type) {
		case float64, string:
		default:
			return nil, fmt.Errorf("%s compares with a number or a string", op)
		}
		return func(get func(string) (any, bool)) bool {
			v := val(get)
			if v == nil {
				return false
			}
			c, ok := order(v, arg)
			if !ok {
				return false
			}
			switch op {
			case "_lt":
				return c < 0
			case "_lte":
				return c <= 0
			case "_gt":
				return c > 0
			}
			return c >= 0
		}, nil
	}
	return nil, fmt.Errorf("operator %s is not supported (_eq, _neq, _in, _nin, _lt, _lte, _gt, _gte, _and, _or)", op)
}

// setKey is a value's key in an _in set: a number and its text are one.
func setKey(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		if f, err := strconv.ParseFloat(x, 64); err == nil && strconv.FormatFloat(f, 'f', -1, 64) == x {
			return "n" + x, true
		}
		return "s" + x, true
	case float64:
		return "n" + strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return "b" + strconv.FormatBool(x), true
	}
	return "", false
}

func equal(v, arg any) bool {
	if v == nil || arg == nil {
		return v == nil && arg == nil
	}
	c, ok := order(v, arg)
	return ok && c == 0
}

// order compares two numbers or two strings (a number stored as text, as
// some writers leave ids, compares as its text).
func order(v, arg any) (int, bool) {
	switch a := arg.(type) {
	case float64:
		switch x := v.(type) {
		case float64:
			return cmp.Compare(x, a), true
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return cmp.Compare(f, a), true
			}
		}
	case string:
		switch x := v.(type) {
		case string:
			return strings.Compare(x, a), true
		case float64:
			return strings.Compare(strconv.FormatFloat(x, 'f', -1, 64), a), true
		}
	case bool:
		if x, ok := v.(bool); ok {
			if x == a {
				return 0, true
			}
			return 1, true
		}
	}
	return 0, false
}

// answer runs a parsed query against the store (s.mu held): edge
// collections give their active edges, vertex collections their active
// vertices, each row with the fields asked for.
func (s *Server) answer(fields []gqlField) (map[string]any, error) {
	data := map[string]any{}
	for _, f := range fields {
		key := f.name
		if f.alias != "" {
			key = f.alias
		}
		if _, dup := data[key]; dup {
			return nil, fmt.Errorf("field %s asked twice without an alias", key)
		}
		var rows []map[string]any
		var err error
		end1, end2, isEdge := strings.Cut(f.name, "_")
		switch {
		case vertexColls[f.name]:
			rows, err = s.vertexRows(f)
		case isEdge && vertexColls[end1] && vertexColls[end2]:
			rows, err = s.edgeRows(f, end1, end2)
		default:
			return nil, fmt.Errorf("unknown collection %s", f.name)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		sort.Slice(rows, func(i, j int) bool { return fmt.Sprint(rows[i]) < fmt.Sprint(rows[j]) })
		data[key] = rows
	}
	return data, nil
}

// carID is a vertex's id as CAR's GraphQL gives it: "<source>/<key>", with
// a region for an address ("<source>/0/<ip>").
func carID(coll, source, key string) string {
	if coll == "ipaddress" {
		return source + "/0/" + key
	}
	return source + "/" + key
}

func (s *Server) edgeRows(f gqlField, end1, end2 string) ([]map[string]any, error) {
	for _, fl := range f.fields {
		switch fl {
		case "source", end1 + "_id", end2 + "_id", "active", "report", "timestamp", "external_id":
		default:
			if _, ok := edgeFieldNames[fl]; !ok {
				return nil, fmt.Errorf("unknown field %s", fl)
			}
		}
	}
	match, err := compile(f.where)
	if err != nil {
		return nil, err
	}
	rows := []map[string]any{}
	for k, e := range s.edges {
		if k.coll != f.name || !e.Active {
			continue
		}
		get := func(field string) (any, bool) {
			switch field {
			case "source":
				return k.source, true
			case end1 + "_id":
				return carID(end1, k.source, k.from), true
			case end2 + "_id":
				return carID(end2, k.source, k.to), true
			}
			v, ok := e.Fields[field]
			return v, ok
		}
		if !match(get) {
			continue
		}
		row := map[string]any{}
		for _, fl := range f.fields {
			if v, ok := get(fl); ok {
				row[fl] = v
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// edgeFieldNames are the edge fields a query may ask for besides the ends.
var edgeFieldNames = map[string]struct{}{"risk_score": {}, "port": {}, "protocol": {}}

func (s *Server) vertexRows(f gqlField) ([]map[string]any, error) {
	match, err := compile(f.where)
	if err != nil {
		return nil, err
	}
	rows := []map[string]any{}
	for k, v := range s.vertices {
		if k.coll != f.name || !v.Active {
			continue
		}
		get := func(field string) (any, bool) {
			switch field {
			case "source":
				return k.source, true
			case "id":
				return carID(f.name, k.source, k.id), true
			}
			val, ok := v.Fields[field]
			return val, ok
		}
		if !match(get) {
			continue
		}
		row := map[string]any{}
		for _, fl := range f.fields {
			if val, ok := get(fl); ok {
				row[fl] = val
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}
