package apiserver

import (
	"bytes"
	"slices"
)

// appendFiltered appends the JSON object raw to buf without the members
// named in drop (attributes the caller may not see) and, if keep is not
// empty, with only the members named in keep (fields=). It copies the
// stored document's bytes instead of re-encoding the resource, which is
// what makes lists cheap for callers who do not see every attribute. It
// reports false, writing nothing, if raw is not a well-formed object.
func appendFiltered(buf *bytes.Buffer, raw []byte, keep, drop []string) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	mark := buf.Len()
	buf.WriteByte('{')
	first := true
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		buf.WriteByte('}')
		return true
	}
	for i < len(raw) {
		keyStart := i
		keyEnd, ok := skipString(raw, i)
		if !ok {
			buf.Truncate(mark)
			return false
		}
		key := raw[keyStart+1 : keyEnd-1]
		i = skipSpace(raw, keyEnd)
		if i >= len(raw) || raw[i] != ':' {
			buf.Truncate(mark)
			return false
		}
		valStart := skipSpace(raw, i+1)
		valEnd, ok := skipValue(raw, valStart)
		if !ok {
			buf.Truncate(mark)
			return false
		}
		if wanted(key, keep, drop) {
			if !first {
				buf.WriteByte(',')
			}
			first = false
			buf.Write(raw[keyStart:keyEnd])
			buf.WriteByte(':')
			buf.Write(raw[valStart:valEnd])
		}
		i = skipSpace(raw, valEnd)
		if i >= len(raw) {
			break
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case '}':
			buf.WriteByte('}')
			return true
		default:
			buf.Truncate(mark)
			return false
		}
	}
	buf.Truncate(mark)
	return false
}

func wanted(key []byte, keep, drop []string) bool {
	match := func(names []string) bool {
		return slices.ContainsFunc(names, func(n string) bool { return n == string(key) })
	}
	return !match(drop) && (len(keep) == 0 || match(keep))
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the JSON string starting at b[i].
func skipString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index after the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := skipString(b, i)
				if !ok {
					return 0, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	}
	start := i
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\n' && b[i] != '\t' && b[i] != '\r' {
		i++
	}
	return i, i > start
}
