package secgroup

import (
	"strings"
	"unicode"
)

// pyIntLimit caps the magnitude pyInt reports; Python integers are unbounded
// but every caller only range-checks against small limits (255, 65535, 128).
const pyIntLimit = 1 << 40

// pyInt parses s the way Python's int(str) does for base 10, which is what
// Neutron and netaddr use on protocol numbers, IPv4 octets of partial
// addresses and CIDR prefix lengths: surrounding Unicode whitespace is
// ignored, one leading '+' or '-' is allowed, digits may be any Unicode
// decimal digit (category Nd) and may be separated by single underscores;
// leading zeros are allowed ("010" is 10). Values whose magnitude exceeds
// pyIntLimit are clamped to ±pyIntLimit, which is still reported as parsed.
func pyInt(s string) (int64, bool) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	var n int64
	afterUnderscore := true // rejects a leading underscore
	for _, r := range s {
		switch {
		case r == '_' && !afterUnderscore:
			afterUnderscore = true
			continue
		case unicode.IsDigit(r):
			n = n*10 + int64(digitValue(r))
			if n > pyIntLimit {
				n = pyIntLimit
			}
			afterUnderscore = false
		default:
			return 0, false
		}
	}
	if afterUnderscore { // trailing underscore
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// digitValue returns the decimal value of a Unicode Nd character. Unicode
// guarantees that Nd characters come in contiguous runs of ten, zero to nine,
// so the value is the offset from the start of the contiguous Nd block
// modulo ten.
func digitValue(r rune) int {
	if r >= '0' && r <= '9' {
		return int(r - '0')
	}
	start := r
	for start > 0 && unicode.IsDigit(start-1) {
		start--
	}
	return int(r-start) % 10
}

// asciiLower lower-cases ASCII letters only. Neutron compares
// value.lower() against ASCII vocabularies (protocol names, ethertypes,
// "default"); no non-ASCII character lowers to one of the letters used
// there in Python, so ASCII-only folding gives identical verdicts while
// avoiding Go/Python differences in Unicode case mapping.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}
