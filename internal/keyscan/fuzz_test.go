package keyscan_test

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/keyscan"
)

// reference is ScanReader the slow, plain way: the shipped rules' regular
// expression on each line, then the checksum.
func reference(f apikey.Format, re *regexp.Regexp, s string) []string {
	var out []string
	for i, line := range strings.Split(s, "\n") {
		for _, m := range re.FindAllString(line, -1) {
			if k, err := f.Parse(m); err == nil {
				out = append(out, k.ID()+"@"+strconv.Itoa(i+1))
			}
		}
	}
	return out
}

// FuzzScanReader checks ScanReader against the regular expression on
// arbitrary text around real keys.
func FuzzScanReader(f *testing.F) {
	format, _ := apikey.NewFormat(apikey.DefaultPrefix)
	k, _ := format.Generate(nil)
	key := k.Reveal()
	re := regexp.MustCompile(`\b` + regexp.QuoteMeta(format.Prefix()) + `[0-9A-Za-z]{12}_[0-9A-Za-z]{49}\b`)
	// Seeds: text around the key, glued to it, and cut through it.
	for _, seed := range [][2]string{
		{"", ""}, {"key: ", "\n"}, {"x", ""}, {"", "_"}, {"\"", "\""}, {"a\n", "\nb"},
		{strings.Repeat("z", 70000), " "}, {"\x00", ""},
	} {
		f.Add(seed[0], seed[1], 0)
		f.Add(seed[0], seed[1], len(key)/2)
	}
	f.Fuzz(func(t *testing.T, before, after string, cut int) {
		if strings.IndexByte(before, 0) >= 0 || len(before) > 100000 || len(after) > 100000 {
			return // binary input is skipped; bound the size
		}
		s := before + key + after
		if cut > 0 && cut < len(key) {
			s = before + key[:cut] + after + key[cut:]
		}
		var got []string
		err := keyscan.ScanReader(format, strings.NewReader(s), func(line int, id string) {
			got = append(got, id+"@"+strconv.Itoa(line))
		})
		if err != nil {
			return // binary by its first bytes
		}
		if want := reference(format, re, s); !slices.Equal(got, want) {
			t.Fatalf("ScanReader found %v, the regular expression %v", got, want)
		}
	})
}
