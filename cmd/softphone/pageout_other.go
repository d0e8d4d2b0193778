//go:build !linux

package main

import "errors"

// releaseFilePages is Linux's (pageout_linux.go).
func releaseFilePages() (uint64, error) {
	return 0, errors.New("not supported on this system")
}

// residentBytes is Linux's (pageout_linux.go).
func residentBytes() uint64 { return 0 }

// keepMapped runs load; the file pages are Linux's business.
func keepMapped(load func() error) (int, error) { return 0, load() }
