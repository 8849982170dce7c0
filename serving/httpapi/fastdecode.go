package httpapi

import "encoding/json"

// fastDecode parses the request bodies Feast clients send — one object
// with "features" (an array of strings) or "feature_service" (a string),
// "entities" (an object of arrays of strings or integers) and
// "full_feature_names" (a boolean), plain ASCII strings without escapes —
// without encoding/json's reflection, which profiles of the service showed
// to cost more than the rest of the handler. For anything else (escapes,
// null, other keys or value kinds, duplicates, bad syntax) it reports
// false and the caller parses with encoding/json, whose result and errors
// are the reference: for every body it accepts, fastDecode gives what
// decodeWire gives (FuzzFastDecode checks). Entity values are sub-slices
// of body.
func fastDecode(body []byte) (wireRequest, bool) {
	d := fastDecoder{b: body}
	var w wireRequest
	if !d.byte('{') {
		return w, false
	}
	var seenFeatures, seenService, seenEntities, seenFull bool
	if d.peek() == '}' {
		return w, false // nothing requested: the reference path words the error
	}
	for {
		key, ok := d.str()
		if !ok || !d.byte(':') {
			return w, false
		}
		switch key {
		case "features":
			if seenFeatures {
				return w, false
			}
			seenFeatures = true
			f, ok := d.strings()
			if !ok {
				return w, false
			}
			w.Features = &f
		case "feature_service":
			if seenService {
				return w, false
			}
			seenService = true
			s, ok := d.str()
			if !ok {
				return w, false
			}
			w.FeatureService = &s
		case "entities":
			if seenEntities {
				return w, false
			}
			seenEntities = true
			if w.Entities, ok = d.entities(); !ok {
				return w, false
			}
		case "full_feature_names":
			if seenFull {
				return w, false
			}
			seenFull = true
			if w.FullFeatureNames, ok = d.bool(); !ok {
				return w, false
			}
		default:
			return w, false
		}
		switch d.next() {
		case ',':
			continue
		case '}':
			d.space()
			return w, d.p == len(d.b)
		}
		return w, false
	}
}

type fastDecoder struct {
	b []byte
	p int
}

func (d *fastDecoder) space() {
	for d.p < len(d.b) {
		switch d.b[d.p] {
		case ' ', '\t', '\n', '\r':
			d.p++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end.
func (d *fastDecoder) peek() byte {
	d.space()
	if d.p == len(d.b) {
		return 0
	}
	return d.b[d.p]
}

// next consumes and returns the next byte after white space, 0 at the end.
func (d *fastDecoder) next() byte {
	c := d.peek()
	if c != 0 {
		d.p++
	}
	return c
}

func (d *fastDecoder) byte(c byte) bool { return d.next() == c }

// rawStr returns the bytes of a string, quotes included, if it holds only
// printable ASCII without escapes.
func (d *fastDecoder) rawStr() ([]byte, bool) {
	if d.peek() != '"' {
		return nil, false
	}
	start := d.p
	for i := d.p + 1; i < len(d.b); i++ {
		switch c := d.b[i]; {
		case c == '"':
			d.p = i + 1
			return d.b[start:d.p], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

func (d *fastDecoder) str() (string, bool) {
	raw, ok := d.rawStr()
	if !ok {
		return "", false
	}
	return string(raw[1 : len(raw)-1]), true
}

// strings parses a non-empty array of strings; an empty one goes to the
// reference path, which words the error.
func (d *fastDecoder) strings() ([]string, bool) {
	if !d.byte('[') {
		return nil, false
	}
	var out []string
	for {
		s, ok := d.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		switch d.next() {
		case ',':
			continue
		case ']':
			return out, true
		}
		return nil, false
	}
}

func (d *fastDecoder) bool() (bool, bool) {
	d.space()
	for _, lit := range [...]string{"true", "false"} {
		if len(d.b)-d.p >= len(lit) && string(d.b[d.p:d.p+len(lit)]) == lit {
			d.p += len(lit)
			return lit == "true", true
		}
	}
	return false, false
}

// entities parses a non-empty object of non-empty arrays of entity keys.
func (d *fastDecoder) entities() (map[string][]json.RawMessage, bool) {
	if !d.byte('{') {
		return nil, false
	}
	out := map[string][]json.RawMessage{}
	for {
		name, ok := d.str()
		if !ok || !d.byte(':') || !d.byte('[') {
			return nil, false
		}
		if _, dup := out[name]; dup {
			return nil, false
		}
		var col []json.RawMessage
		for {
			v, ok := d.key()
			if !ok {
				return nil, false
			}
			col = append(col, v)
			if c := d.next(); c == ']' {
				break
			} else if c != ',' {
				return nil, false
			}
		}
		out[name] = col
		switch d.next() {
		case ',':
			continue
		case '}':
			return out, true
		}
		return nil, false
	}
}

// key returns one entity key as it stands in the body: a plain string or
// an integer (-?(0|[1-9][0-9]*)).
func (d *fastDecoder) key() (json.RawMessage, bool) {
	if d.peek() == '"' {
		raw, ok := d.rawStr()
		return raw, ok
	}
	start := d.p
	if d.p < len(d.b) && d.b[d.p] == '-' {
		d.p++
	}
	digits := d.p
	for d.p < len(d.b) && d.b[d.p] >= '0' && d.b[d.p] <= '9' {
		d.p++
	}
	n := d.p - digits
	if n == 0 || (n > 1 && d.b[digits] == '0') {
		return nil, false
	}
	if d.p < len(d.b) {
		switch d.b[d.p] {
		case ',', ']', ' ', '\t', '\n', '\r':
		default:
			return nil, false // a fraction or exponent
		}
	}
	return d.b[start:d.p], true
}
