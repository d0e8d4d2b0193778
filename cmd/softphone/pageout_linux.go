package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// madvPageout is MADV_PAGEOUT (Linux 5.4): reclaim the range's pages now.
const madvPageout = 21

// releaseFilePages asks the kernel to reclaim the pages of the daemon's
// private, read-only file mappings: the binary's code and read-only data
// and those of the shared libraries. Start-up touches far more of them
// than the daemon uses afterwards (package initialisation, the
// configuration's parsing, the first device enumeration), and the page
// cache's large folios are mapped whole, so right after start-up nearly
// the whole binary counts as the daemon's resident memory. Once reclaimed,
// a page the daemon still uses comes back on its next use (from the page
// cache, or read again from the file); the rest stays out. The kernel
// leaves alone a page that another process maps too (a library's page in
// use elsewhere, the binary's pages while another daemon runs), and the
// content of a mapping never changes: a private page the process has
// written (relocations) is anonymous memory, which MADV_PAGEOUT only
// swaps, and then only where there is swap.
//
// It returns the bytes of the mappings it covered.
func releaseFilePages() (uint64, error) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	var covered uint64
	var firstErr error
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		start, end, ok := readOnlyFileMapping(sc.Text())
		if !ok {
			continue
		}
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, start, end-start, madvPageout); e != 0 {
			if firstErr == nil {
				firstErr = fmt.Errorf("madvise(MADV_PAGEOUT) %#x-%#x: %w", start, end, e)
			}
			continue
		}
		covered += uint64(end - start)
	}
	return covered, firstErr
}

// readOnlyFileMapping parses one line of /proc/self/maps and reports the
// range of a private, read-only mapping of a regular file: not writable,
// not shared memory (a sound server's memfd pool), not a device, not a
// deleted file, not the kernel's [vdso] and the like.
func readOnlyFileMapping(line string) (start, end uintptr, ok bool) {
	f := strings.Fields(line)
	if len(f) < 6 {
		return 0, 0, false
	}
	perms, path := f[1], strings.Join(f[5:], " ")
	if len(perms) < 4 || perms[1] == 'w' || perms[3] != 'p' {
		return 0, 0, false
	}
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "/dev/") || strings.HasPrefix(path, "/memfd:") ||
		strings.HasSuffix(path, "(deleted)") {
		return 0, 0, false
	}
	lo, hi, found := strings.Cut(f[0], "-")
	if !found {
		return 0, 0, false
	}
	s, err1 := strconv.ParseUint(lo, 16, 64)
	e, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return 0, 0, false
	}
	return uintptr(s), uintptr(e), true
}

// residentBytes is the process's resident set (/proc/self/statm), 0 when
// it cannot be read.
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	n, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return n * uint64(os.Getpagesize())
}
