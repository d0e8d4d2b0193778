package sip

import (
	"context"
	"reflect"
)

// accounts returns the accounts in force. UpdateAccounts replaces the
// slice whole, never in place, so the slice returned stays valid.
func (u *UA) accounts() []Account {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.o.Accounts
}

// StartRegistrations starts the registration of every account (standalone
// accounts only report their state). Registrations already running are
// stopped first (un-REGISTER), so this also restarts them.
func (u *UA) StartRegistrations(ctx context.Context) error {
	if err := u.stopRegistrations(ctx, true); err != nil {
		return err
	}
	return u.startAccounts(u.accounts())
}

// startAccounts registers accounts (one standalone entry when there are
// none) and adds them to the UA.
func (u *UA) startAccounts(accts []Account) error {
	if len(accts) == 0 {
		// No account: standalone, reported as one registration entry.
		accts = []Account{{ID: 0}}
	}
	var regs []*registration
	for _, a := range accts {
		regs = append(regs, newRegistration(u, a))
	}
	u.mu.Lock()
	u.regs = append(u.regs, regs...)
	u.mu.Unlock()
	for _, r := range regs {
		r.start()
	}
	return nil
}

// StopRegistrations un-registers every account (Expires: 0); the UA keeps
// listening. Calls are not touched: the caller hangs them up first if the
// agent logs out.
func (u *UA) StopRegistrations(ctx context.Context) error {
	return u.stopRegistrations(ctx, false)
}

// stopRegistrations takes every registration out of the UA and stops it.
// strict makes a UA that is not running an error (else nothing happens).
func (u *UA) stopRegistrations(ctx context.Context, strict bool) error {
	u.mu.Lock()
	var err error
	switch {
	case u.closed:
		err = ErrClosed
	case !u.started:
		err = ErrNotStarted
	}
	if err != nil {
		u.mu.Unlock()
		if strict {
			return err
		}
		return nil
	}
	old := u.regs
	u.regs = nil
	u.mu.Unlock()
	for _, r := range old {
		r.stop(ctx)
	}
	return nil
}

// UpdateAccounts replaces the accounts: an account added, removed or
// changed is (un-)registered again; unchanged ones keep their binding and
// calls go on. Listening addresses and TLS trust do not change.
func (u *UA) UpdateAccounts(ctx context.Context, accts []Account) error {
	next := append([]Account(nil), accts...)
	if err := checkAccounts(next); err != nil {
		return err
	}
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return ErrClosed
	}
	prev := u.o.Accounts
	u.o.Accounts = next
	started := u.started
	var keep, drop []*registration
	want := map[int]Account{}
	for _, a := range next {
		want[a.ID] = a
	}
	have := map[int]bool{}
	for _, r := range u.regs {
		if a, ok := want[r.a.ID]; ok && reflect.DeepEqual(a, r.a) && len(prev) > 0 {
			keep = append(keep, r)
			have[r.a.ID] = true
		} else {
			drop = append(drop, r)
		}
	}
	if !started {
		u.mu.Unlock()
		return nil
	}
	u.regs = keep
	u.mu.Unlock()
	for _, r := range drop {
		r.stop(ctx)
	}
	var add []Account
	for _, a := range next {
		if !have[a.ID] {
			add = append(add, a)
		}
	}
	if len(add) == 0 && len(next) > 0 {
		return nil
	}
	return u.startAccounts(add)
}
