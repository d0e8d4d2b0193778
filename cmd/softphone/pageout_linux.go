package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// madvise advice values (Linux): MADV_DONTNEED drops the range's page
// table entries, MADV_PAGEOUT (5.4) reclaims its pages now.
const (
	madvDontneed = 4
	madvPageout  = 21
)

// releaseFilePages gives back to the kernel the pages of the daemon's
// private, read-only file mappings: the binary's code and read-only data
// and those of the shared libraries. Start-up touches far more of them
// than the daemon uses afterwards (package initialisation, the
// configuration's parsing, the first device enumeration), and the page
// cache's large folios are mapped whole, so right after start-up nearly
// the whole binary counts as the daemon's resident memory. A page the
// daemon still uses comes back on its next use; the rest stays out.
//
// A mapping of a file that is never unmapped (permanentFiles: the
// executable, the libraries loaded with it, the sound system's client
// library kept loaded) none of whose pages the process has written (no
// anonymous pages in /proc/self/smaps: code, read-only data) has its page
// table entries dropped (MADV_DONTNEED): its pages stay in the page
// cache, for the kernel to keep or reclaim as any cached file, and come
// back with a minor fault, never a read from disk; its content cannot
// change, as every page of it is the file's, and the file is never
// unmapped, so the range read from smaps is still that mapping when the
// advice lands. Every other mapping (another library loaded by dlopen,
// which a dlclose and another dlopen could replace meanwhile by a mapping
// with relocated pages; the relocated pages of any) is only asked to page out
// (MADV_PAGEOUT), which never changes content: it reclaims the file's
// clean pages not mapped by another process and leaves the written ones,
// anonymous memory with no swap to go to. (MADV_PAGEOUT alone is not enough for the
// executable: it leaves mapped the large folios a fresh build's linker
// leaves in the page cache, the binary's pages after a `make build`.)
//
// It returns the bytes of the mappings it covered.
func releaseFilePages() (uint64, error) {
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	var covered uint64
	var firstErr error
	advise := func(start, end uintptr, advice uintptr, name string) {
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, start, end-start, advice); e != 0 {
			if firstErr == nil {
				firstErr = fmt.Errorf("madvise(%s) %#x-%#x: %w", name, start, end, e)
			}
			return
		}
		covered += uint64(end - start)
	}
	permanentMu.Lock()
	defer permanentMu.Unlock()
	for _, m := range readOnlyFileMappings(smaps) {
		if m.anonymous || !permanentFiles[m.path] {
			advise(m.start, m.end, madvPageout, "MADV_PAGEOUT")
		} else {
			advise(m.start, m.end, madvDontneed, "MADV_DONTNEED")
		}
	}
	return covered, firstErr
}

// permanentFiles are the files mapped for the process's whole life: those
// mapped when the package was initialised (the executable and the
// libraries the dynamic loader loaded with it: only a library a dlopen
// loaded can be unloaded, and none has run by then) and those keepMapped
// adds. Their ranges read from smaps are still theirs when the advice
// lands.
var (
	permanentMu    sync.Mutex
	permanentFiles = mappedFiles()
)

// keepMapped runs load, which loads files for the rest of the process's
// life (audio.KeepClientLibrary), and counts the files it mapped among
// the permanent ones. It returns load's error and how many files were
// added; a load that failed adds nothing (what it mapped may not stay).
// Nothing else may load or unload libraries meanwhile: the daemon calls it
// before it starts anything that does.
func keepMapped(load func() error) (int, error) {
	before := mappedFiles()
	if err := load(); err != nil {
		return 0, err
	}
	after := mappedFiles()
	permanentMu.Lock()
	defer permanentMu.Unlock()
	added := 0
	for f := range after {
		if !before[f] && !permanentFiles[f] {
			permanentFiles[f] = true
			added++
		}
	}
	return added, nil
}

// mappedFiles are the files of the process's private, read-only file
// mappings now.
func mappedFiles() map[string]bool {
	files := map[string]bool{}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return files
	}
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		if _, _, path, ok := readOnlyFileMapping(sc.Text()); ok {
			files[path] = true
		}
	}
	return files
}

// fileMapping is one private, read-only file mapping of /proc/self/smaps.
type fileMapping struct {
	start, end uintptr
	path       string
	anonymous  bool // some of its pages are the process's own (written)
}

// readOnlyFileMappings lists the private, read-only file mappings of an
// smaps text. A mapping whose Anonymous line is missing or unreadable
// counts as having anonymous pages (the safe side).
func readOnlyFileMappings(smaps []byte) []fileMapping {
	var out []fileMapping
	cur := -1
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.Contains(k, " ") && !strings.Contains(k, "-") {
			if cur >= 0 && k == "Anonymous" {
				f := strings.Fields(v)
				out[cur].anonymous = len(f) == 0 || f[0] != "0"
			}
			continue
		}
		cur = -1
		if start, end, path, ok := readOnlyFileMapping(line); ok {
			out = append(out, fileMapping{start: start, end: end, path: path, anonymous: true})
			cur = len(out) - 1
		}
	}
	return out
}

// readOnlyFileMapping parses one line of /proc/self/maps and reports the
// range of a private, read-only mapping of a regular file: not writable,
// not shared memory (a sound server's memfd pool), not a device, not a
// deleted file, not the kernel's [vdso] and the like.
func readOnlyFileMapping(line string) (start, end uintptr, path string, ok bool) {
	f := strings.Fields(line)
	if len(f) < 6 {
		return 0, 0, "", false
	}
	perms := f[1]
	path = strings.Join(f[5:], " ")
	if len(perms) < 4 || perms[1] == 'w' || perms[3] != 'p' {
		return 0, 0, "", false
	}
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "/dev/") || strings.HasPrefix(path, "/memfd:") ||
		strings.HasSuffix(path, "(deleted)") {
		return 0, 0, "", false
	}
	lo, hi, found := strings.Cut(f[0], "-")
	if !found {
		return 0, 0, "", false
	}
	s, err1 := strconv.ParseUint(lo, 16, 64)
	e, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return 0, 0, "", false
	}
	return uintptr(s), uintptr(e), path, true
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
