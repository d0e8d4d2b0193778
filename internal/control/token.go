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
)

// tokenBytes is the size of a generated token before hex encoding.
const tokenBytes = 32

// maxTokenFile bounds what is read from a token file.
const maxTokenFile = 4096

// LoadOrCreateToken returns the API token kept at path. At first start it
// creates the parent folder (0700) and the file (0600) holding 32 random
// bytes in hex. It refuses a token file that its group or others may
// access (ErrTokenPermissions) and an empty one (ErrEmptyToken).
func LoadOrCreateToken(path string) (string, error) {
	tok, err := readToken(path, true)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("control: token folder: %w", err)
	}
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("control: token: %w", err)
	}
	tok = hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it between the read and now.
		return readToken(path, true)
	}
	if err != nil {
		return "", fmt.Errorf("control: create token file: %w", err)
	}
	_, werr := f.WriteString(tok + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("control: write token file %s: %w", path, err)
	}
	return tok, nil
}

// ReadToken returns the token kept at path, for the command line client.
func ReadToken(path string) (string, error) {
	return readToken(path, false)
}

func readToken(path string, strict bool) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("control: token file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("control: token file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("control: token file %s is not a regular file", path)
	}
	if strict && st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%w: %s has mode %04o, want 0600", ErrTokenPermissions, path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile))
	if err != nil {
		return "", fmt.Errorf("control: read token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%w: %s", ErrEmptyToken, path)
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("control: token file %s holds more than one word", path)
	}
	return tok, nil
}
