package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestReadOnlyFileMapping(t *testing.T) {
	cases := []struct {
		line   string
		ok     bool
		lo, hi uintptr
	}{
		{"00400000-00403000 r--p 00000000 fe:00 1234 /usr/bin/softphone", true, 0x400000, 0x403000},
		{"00403000-00afa000 r-xp 00003000 fe:00 1234 /usr/bin/softphone", true, 0x403000, 0xafa000},
		{"7f00-8f00 r--p 00000000 fe:00 99 /opt/my softphone/lib.so", true, 0x7f00, 0x8f00},
		{"7f00-8f00 r-xp 00000000 fe:00 99 relative/lib.so", false, 0, 0},
		{"011ff000-01220000 rw-p 00dff000 fe:00 1234 /usr/bin/softphone", false, 0, 0},
		{"7f0000-7f1000 r--s 00000000 00:01 5 /memfd:pulseaudio (deleted)", false, 0, 0},
		{"7f0000-7f1000 r--p 00000000 00:01 5 /memfd:x", false, 0, 0},
		{"7f0000-7f1000 r--p 00000000 fe:00 5 /usr/lib/old.so (deleted)", false, 0, 0},
		{"7f0000-7f1000 r--p 00000000 00:05 5 /dev/zero", false, 0, 0},
		{"7ffd0000-7ffd2000 r-xp 00000000 00:00 0 [vdso]", false, 0, 0},
		{"7f0000-7f1000 r--p 00000000 00:00 0 ", false, 0, 0},
		{"7f1000-7f0000 r--p 00000000 fe:00 5 /usr/lib/x.so", false, 0, 0},
		{"zz-7f0000 r--p 00000000 fe:00 5 /usr/lib/x.so", false, 0, 0},
	}
	for _, c := range cases {
		lo, hi, path, ok := readOnlyFileMapping(c.line)
		if ok && !strings.HasPrefix(path, "/") {
			t.Errorf("%q: path %q", c.line, path)
		}
		if ok != c.ok || lo != c.lo || hi != c.hi {
			t.Errorf("%q: %#x-%#x %v, want %#x-%#x %v", c.line, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
}

// rssFileKB is the file-backed part of the process's resident set.
func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// The test binary, like the daemon, has far more of its file pages
// resident than it is using: giving them back must shrink the file-backed
// resident set, and the process goes on running the code it needs.
func TestReleaseFilePages(t *testing.T) {
	before := rssFileKB(t)
	covered, err := releaseFilePages()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	t.Logf("RssFile %d kB → %d kB; mappings covered %d kB", before, after, covered>>10)
	if covered == 0 {
		t.Fatal("no mapping covered")
	}
	if after > before-1024 {
		t.Fatalf("RssFile %d kB → %d kB: less than 1 MB given back", before, after)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	permanentMu.Lock()
	if !permanentFiles[exe] {
		t.Errorf("the executable %s is not among the files mapped at start-up %v", exe, permanentFiles)
	}
	permanentMu.Unlock()
	if residentBytes() == 0 {
		t.Fatal("residentBytes() = 0")
	}
}

func TestReadOnlyFileMappings(t *testing.T) {
	smaps := `00400000-00403000 r--p 00000000 fe:00 1234 /usr/bin/softphone
Size:                 12 kB
Rss:                  12 kB
Anonymous:             0 kB
VmFlags: rd mr mw me dw sd
00403000-00afa000 r-xp 00003000 fe:00 1234 /usr/bin/softphone
Size:               7132 kB
Anonymous:             0 kB
011ff000-01200000 r--p 00dff000 fe:00 1234 /usr/bin/softphone
Anonymous:             4 kB
01200000-01220000 rw-p 00e00000 fe:00 1234 /usr/bin/softphone
Anonymous:            64 kB
7f0000-7f1000 r--s 00000000 00:01 5 /memfd:pulseaudio (deleted)
Anonymous:             0 kB
7f2000-7f3000 r-xp 00000000 fe:00 77 /usr/lib/libx.so
Rss:                   4 kB
`
	got := readOnlyFileMappings([]byte(smaps))
	want := []fileMapping{
		{0x400000, 0x403000, "/usr/bin/softphone", false},
		{0x403000, 0xafa000, "/usr/bin/softphone", false},
		{0x11ff000, 0x1200000, "/usr/bin/softphone", true}, // relocated: written pages
		{0x7f2000, 0x7f3000, "/usr/lib/libx.so", true},     // no Anonymous line: the safe side
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// The files keepMapped's load maps join the permanent ones; those mapped
// before it do not.
func TestKeepMapped(t *testing.T) {
	dir := t.TempDir()
	mapFile := func(name string) (string, func()) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, bytes.Repeat([]byte{1}, 8192), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, err := syscall.Mmap(int(f.Fd()), 0, 8192, syscall.PROT_READ, syscall.MAP_PRIVATE)
		if err != nil {
			t.Fatal(err)
		}
		return path, func() { _ = syscall.Munmap(b) }
	}
	earlier, unmapEarlier := mapFile("earlier")
	defer unmapEarlier()
	var kept string
	var unmapKept func()
	added, err := keepMapped(func() error {
		kept, unmapKept = mapFile("kept")
		return nil
	})
	defer unmapKept()
	if err != nil || added != 1 {
		t.Fatalf("keepMapped = %d files, %v; want 1 added", added, err)
	}
	var failed string
	var unmapFailed func()
	added, err = keepMapped(func() error {
		failed, unmapFailed = mapFile("failed")
		return errors.New("no such library")
	})
	defer unmapFailed()
	if err == nil || added != 0 {
		t.Fatalf("keepMapped with a failing load = %d files, %v; want 0 and its error", added, err)
	}
	permanentMu.Lock()
	defer permanentMu.Unlock()
	if permanentFiles[failed] {
		t.Errorf("%s, mapped by a load that failed, is among the permanent files", failed)
	}
	if !permanentFiles[kept] {
		t.Errorf("%s, mapped by the load, is not among the permanent files", kept)
	}
	if permanentFiles[earlier] {
		t.Errorf("%s, mapped before the load, is among the permanent files", earlier)
	}
}
