package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/control"
)

// lockInstance makes sure one daemon runs per user: it takes a lock
// (syscall.LOCK_EX for the daemon; LOCK_SH for a command that must know
// no daemon runs) on softphone.lock beside the token file (the user's own
// folder) and holds it until the returned unlock. A second daemon gets a
// clear error. The lock file passes the token file's checks (the daemon's
// user's, no symlink, mode 0600, in a folder others cannot write), so a
// link planted there cannot make the daemon empty another file.
func lockInstance(tokenFile string, how int) (unlock func(), err error) {
	dir := filepath.Dir(tokenFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	path := filepath.Join(dir, "softphone.lock")
	f, err := control.OpenPrivateFile(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(path)
		f.Close()
		who := strings.TrimSpace(string(pid))
		if who != "" {
			who = " (pid " + who + ")"
		}
		return nil, fmt.Errorf("another softphone daemon is already running for this user%s: it holds %s", who, path)
	}
	if how == syscall.LOCK_SH {
		return func() {
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
		}, nil
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// passwordFileWarning returns a warning when the configuration file holds
// a password and others may read it.
func passwordFileWarning(cfg *config.Config) string {
	if cfg.File == "" {
		return ""
	}
	has := false
	for _, c := range cfg.Connections {
		if c.Password != "" {
			has = true
		}
	}
	if !has {
		return ""
	}
	st, err := os.Stat(cfg.File)
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return ""
	}
	return fmt.Sprintf("%s holds a SIP password and is readable by others (mode %04o): run chmod 600 %s", cfg.File, st.Mode().Perm(), cfg.File)
}
