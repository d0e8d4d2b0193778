package testbed

import "testing"

// Tests and benchmarks hand themselves to the test bed as they are.
var (
	_ TB = (*testing.T)(nil)
	_ TB = (*testing.B)(nil)
	_ TB = testing.TB(nil)
)

func TestRaceReport(t *testing.T) {
	const report = "WARNING: DATA RACE\nWrite at 0x00c000 by goroutine 7:\n  main.f()"
	for _, tc := range []struct{ name, out, want string }{
		{"none", "level=INFO msg=started\n", ""},
		{"one", "level=INFO msg=started\n==================\n" + report + "\n==================\nlevel=INFO msg=stopped\n", report},
		{"first of two", "==================\n" + report + "\n==================\n==================\nWARNING: DATA RACE\nRead at 0x1\n==================\n", report},
		{"cut short", "==================\n" + report + "\n", report},
	} {
		if got := RaceReport(tc.out); got != tc.want {
			t.Errorf("%s: RaceReport = %q, want %q", tc.name, got, tc.want)
		}
	}
}
