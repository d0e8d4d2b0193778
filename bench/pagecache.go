package bench

import (
	"os"

	"golang.org/x/sys/unix"
)

// evictPageCache drops the page cache's clean, unmapped pages of the file
// at path (posix_fadvise POSIX_FADV_DONTNEED), so that the next process
// to map it reads it from disk.
func evictPageCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil { // written pages must be clean to go
		return err
	}
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
