package control

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// longTok is a token of MinTokenLen characters.
var longTok = strings.Repeat("ab", MinTokenLen/2) + "c"

func TestLoadOrCreateToken(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, path string) // nil: nothing exists yet
		want    string                          // "" = a new random token
		wantErr error                           // nil with errAny for an unnamed error
		errAny  bool
	}{
		{name: "first start creates"},
		{name: "existing 0600", setup: write(longTok+"\n", 0o600), want: longTok},
		{name: "existing 0400", setup: write("  "+longTok+" \n", 0o400), want: longTok},
		{name: "too short", setup: write("abc123\n", 0o600), wantErr: ErrWeakToken},
		{name: "a symlink", setup: func(t *testing.T, path string) {
			write(longTok, 0o600)(t, path+".real")
			if err := os.Symlink(path+".real", path); err != nil {
				t.Fatal(err)
			}
		}, wantErr: ErrUnsafeFile},
		{name: "another user's file", setup: func(t *testing.T, path string) {
			write(longTok, 0o600)(t, path)
			if os.Geteuid() != 0 {
				t.Skip("chown to another user needs root")
			}
			if err := os.Chown(path, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, wantErr: ErrUnsafeFile},
		{name: "folder writable by others", setup: func(t *testing.T, path string) {
			write(longTok, 0o600)(t, path)
			if err := os.Chmod(filepath.Dir(path), 0o777); err != nil {
				t.Fatal(err)
			}
		}, wantErr: ErrUnsafeFile},
		{name: "group readable", setup: write("abc123\n", 0o640), wantErr: ErrTokenPermissions},
		{name: "world readable", setup: write("abc123\n", 0o644), wantErr: ErrTokenPermissions},
		{name: "group writable", setup: write("abc123\n", 0o620), wantErr: ErrTokenPermissions},
		{name: "empty", setup: write("\n", 0o600), wantErr: ErrEmptyToken},
		{name: "two words", setup: write("abc def\n", 0o600), errAny: true},
		{name: "a folder", setup: func(t *testing.T, path string) {
			if err := os.MkdirAll(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, errAny: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "conf", "softphone", "token")
			if tc.setup != nil {
				tc.setup(t, path)
			}
			got, err := LoadOrCreateToken(path)
			switch {
			case tc.wantErr != nil || tc.errAny:
				if err == nil {
					t.Fatalf("token %q, want an error", got)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if tc.want != "" {
				if got != tc.want {
					t.Errorf("token %q, want %q", got, tc.want)
				}
				return
			}
			if b, err := hex.DecodeString(got); err != nil || len(b) != 32 {
				t.Errorf("token %q is not 32 bytes in hex", got)
			}
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("token file mode %v (%v), want 0600", st.Mode(), err)
			}
			dir, err := os.Stat(filepath.Dir(path))
			if err != nil || dir.Mode().Perm() != 0o700 {
				t.Errorf("token folder mode %v (%v), want 0700", dir.Mode(), err)
			}
			again, err := LoadOrCreateToken(path)
			if err != nil || again != got {
				t.Errorf("second start: %q (%v), want the same %q", again, err, got)
			}
			read, err := ReadToken(path)
			if err != nil || read != got {
				t.Errorf("ReadToken: %q (%v), want %q", read, err, got)
			}
		})
	}
}

func TestTokensDiffer(t *testing.T) {
	dir := t.TempDir()
	a, errA := LoadOrCreateToken(filepath.Join(dir, "a"))
	b, errB := LoadOrCreateToken(filepath.Join(dir, "b"))
	if errA != nil || errB != nil || a == b {
		t.Errorf("tokens %q and %q (%v, %v)", a, b, errA, errB)
	}
}

func TestReadToken(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, path string)
		want    string
		wantErr bool
	}{
		{name: "missing", wantErr: true},
		{name: "present", setup: write(longTok+"\n", 0o600), want: longTok},
		{name: "short", setup: write("feed\n", 0o600), wantErr: true},
		{name: "empty", setup: write("", 0o600), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			if tc.setup != nil {
				tc.setup(t, path)
			}
			got, err := ReadToken(path)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("ReadToken = %q, %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// write returns a setup that writes content at path with mode perm.
func write(content string, perm os.FileMode) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, perm); err != nil { // past the umask
			t.Fatal(err)
		}
	}
}

// TestRotateToken replaces the token file's token by a new one of 64 hex
// digits; the file keeps mode 0600, and a symlink in its place is refused.
func TestRotateToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	old, err := LoadOrCreateToken(path)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := RotateToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := hex.DecodeString(tok); err != nil || len(b) != 32 || tok == old {
		t.Fatalf("rotated token %q (old %q)", tok, old)
	}
	if got, err := ReadToken(path); err != nil || got != tok {
		t.Fatalf("file holds %q (%v), want %q", got, err, tok)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v (%v)", st.Mode(), err)
	}
	link := filepath.Join(t.TempDir(), "token")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := RotateToken(link); !errors.Is(err, ErrUnsafeFile) {
		t.Errorf("rotate through a symlink: %v, want ErrUnsafeFile", err)
	}
	if got, _ := ReadToken(path); got != tok {
		t.Error("rotating through the symlink changed its target")
	}
}
