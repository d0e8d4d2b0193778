package main

import (
	"strings"
	"syscall"
	"testing"
)

// TestAPIConnLimit keeps the API's connection cap under an eighth of the
// open-file limit, and leaves a smaller configured cap alone.
func TestAPIConnLimit(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if got, nofile := apiConnLimit(1 << 30); nofile != rl.Cur || uint64(got) > rl.Cur/8 || got < 1 {
		t.Errorf("cap %d with open-file limit %d (reported %d)", got, rl.Cur, nofile)
	}
	if got, _ := apiConnLimit(4); rl.Cur >= 32 && got != 4 {
		t.Errorf("a cap of 4 became %d", got)
	}
}

func TestSplitConfigFlag(t *testing.T) {
	tests := []struct {
		in       []string
		wantCfg  string
		wantRest string
		wantErr  bool
	}{
		{[]string{"--code", "480", "-c", "a.ini"}, "a.ini", "--code 480", false},
		{[]string{"-c", "a.ini", "c1"}, "a.ini", "c1", false},
		{[]string{"c1", "-c=b.ini", "--code=480"}, "b.ini", "c1 --code=480", false},
		{[]string{"--c", "a.ini"}, "a.ini", "", false},
		{[]string{"x", "--", "-c", "a.ini"}, "", "x -- -c a.ini", false},
		{[]string{"c1", "-c"}, "", "", true},
	}
	for _, tc := range tests {
		cfg, rest, err := splitConfigFlag(tc.in)
		if (err != nil) != tc.wantErr || cfg != tc.wantCfg || strings.Join(rest, " ") != tc.wantRest {
			t.Errorf("splitConfigFlag(%q) = %q, %q, %v; want %q, %q, error %v", tc.in, cfg, rest, err, tc.wantCfg, tc.wantRest, tc.wantErr)
		}
	}
}
