package control

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// tokenBytes is the size of a generated token before hex encoding.
const tokenBytes = 32

// MinTokenLen is the shortest token a token file may hold: 32 random
// bytes in base64 (43 characters); the daemon writes them as 64 hex
// digits.
const MinTokenLen = 43

// maxTokenFile bounds what is read from a token file.
const maxTokenFile = 4096

// A private file — the token file, the instance lock — must be a regular
// file, no symlink (it is opened with O_NOFOLLOW, so a link planted by
// someone else cannot redirect the daemon to another file), owned by the
// daemon's user (also when that is root), with no access for group or
// others, in a folder that neither group nor others may write (or they
// could swap the file). Each refusal names the fix.

// CheckPrivateDir refuses a folder that group or others may write, or that
// belongs to another user than this process's or root.
func CheckPrivateDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("control: folder %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("control: %s is not a folder", dir)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: folder %s has mode %04o, writable by group or others: run chmod go-w %s, or keep the file in a private folder",
			ErrUnsafeFile, dir, st.Mode().Perm(), dir)
	}
	if uid := fileUID(st); uid != uint32(os.Geteuid()) && uid != 0 {
		return fmt.Errorf("%w: folder %s belongs to uid %d, not to uid %d running softphone: keep the file in a folder of your own",
			ErrUnsafeFile, dir, uid, os.Geteuid())
	}
	return nil
}

// OpenPrivateFile opens path (flag as os.OpenFile; O_CREATE makes it mode
// 0600) after CheckPrivateDir on its folder, without following a symlink,
// and refuses a file another user owns or group or others may access.
func OpenPrivateFile(path string, flag int) (*os.File, error) {
	if err := CheckPrivateDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%w: %s is a symbolic link: remove it (rm %s); it is made again as a file", ErrUnsafeFile, path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := checkPrivateFile(f, path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func checkPrivateFile(f *os.File, path string) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("control: %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file: remove it", ErrUnsafeFile, path)
	}
	if uid := fileUID(st); uid != uint32(os.Geteuid()) {
		return fmt.Errorf("%w: %s belongs to uid %d, not to uid %d running softphone: remove it (rm %s) and let the daemon make its own",
			ErrUnsafeFile, path, uid, os.Geteuid(), path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o, want 0600: run chmod 600 %s", ErrTokenPermissions, path, st.Mode().Perm(), path)
	}
	return nil
}

func fileUID(st fs.FileInfo) uint32 {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return sys.Uid
	}
	return ^uint32(0)
}

// LoadOrCreateToken returns the API token kept at path. At first start it
// creates the parent folder (0700) and the file (0600) holding 32 random
// bytes in hex. The file must pass OpenPrivateFile's checks and hold a
// token of at least MinTokenLen characters.
func LoadOrCreateToken(path string) (string, error) {
	tok, err := ReadToken(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("control: token folder: %w", err)
	}
	tok, err = newToken()
	if err != nil {
		return "", err
	}
	f, err := OpenPrivateFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it between the read and now.
		return ReadToken(path)
	}
	if err != nil {
		return "", err
	}
	_, werr := f.WriteString(tok + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("control: write token file %s: %w", path, err)
	}
	return tok, nil
}

// RotateToken writes a new token to path, replacing the old one at once
// (a new file renamed over it), and returns it. The folder must pass
// CheckPrivateDir; an existing file must pass OpenPrivateFile's checks.
func RotateToken(path string) (string, error) {
	if _, err := ReadToken(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	tok, err := newToken()
	if err != nil {
		return "", err
	}
	tmp := path + ".new"
	_ = os.Remove(tmp) // a leftover of an interrupted rotation
	f, err := OpenPrivateFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return "", err
	}
	_, werr := f.WriteString(tok + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("control: write token file %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("control: replace token file: %w", err)
	}
	return tok, nil
}

func newToken() (string, error) {
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("control: token: %w", err)
	}
	return hex.EncodeToString(raw), nil
}

// ReadToken returns the token kept at path, after OpenPrivateFile's
// checks; the command line client reads it the same way, so it never
// uses a token someone else planted.
func ReadToken(path string) (string, error) {
	f, err := OpenPrivateFile(path, os.O_RDONLY)
	if err != nil {
		return "", fmt.Errorf("control: token file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile))
	if err != nil {
		return "", fmt.Errorf("control: read token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	switch {
	case tok == "":
		return "", fmt.Errorf("%w: %s: remove it and restart the daemon (a new one is made), or run softphone token rotate", ErrEmptyToken, path)
	case strings.ContainsAny(tok, " \t\r\n"):
		return "", fmt.Errorf("control: token file %s holds more than one word: run softphone token rotate", path)
	case len(tok) < MinTokenLen:
		return "", fmt.Errorf("%w: %s holds %d characters, want at least %d (32 random bytes): run softphone token rotate",
			ErrWeakToken, path, len(tok), MinTokenLen)
	}
	return tok, nil
}
