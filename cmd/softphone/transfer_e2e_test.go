package main

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// transferDaemon is a standalone daemon on the null audio backend that
// answers every call at once.
type transferDaemon struct {
	*daemon
	sipAddr string
	ev      <-chan phone.Event
}

func startTransferDaemon(t *testing.T) *transferDaemon {
	t.Helper()
	testbed.Require(t, "sipp")
	base, sipPort := daemonConfig(t)
	cfg := writeConfig(t, base+`
[system.audio]
backend = null
[policy.device]
use_headset = 0
[policy.session]
auto_answer = 1
dtmf_method = info
`)
	d := startDaemon(t, nil, cfg)
	td := &transferDaemon{daemon: d, sipAddr: "127.0.0.1:" + strconv.Itoa(sipPort)}
	td.ev = d.events(t)
	return td
}

// transferEvent waits for a "transfer" event in state.
func (td *transferDaemon) transferEvent(t *testing.T, state string) phone.TransferEvent {
	t.Helper()
	var te phone.TransferEvent
	waitEvent(t, td.ev, "transfer", 15*time.Second, func(d json.RawMessage) bool {
		return json.Unmarshal(d, &te) == nil && te.State == state
	})
	return te
}

// callEvent waits for a "call" event of call id (any call when "") in
// state.
func (td *transferDaemon) callEvent(t *testing.T, id, state string) phone.CallInfo {
	t.Helper()
	return waitCallEvent(t, td.ev, id, state)
}

// callEnds waits until every call of ids has ended, in any order, and
// returns their end reasons.
func (td *transferDaemon) callEnds(t *testing.T, ids ...string) map[string]string {
	t.Helper()
	ends := map[string]string{}
	waitEvent(t, td.ev, "call", 15*time.Second, func(d json.RawMessage) bool {
		var ci phone.CallInfo
		if json.Unmarshal(d, &ci) == nil && ci.State == "ended" {
			ends[ci.ID] = ci.Reason
		}
		for _, id := range ids {
			if _, ok := ends[id]; !ok {
				return false
			}
		}
		return true
	})
	return ends
}

var notifyLine = regexp.MustCompile(`notify=(\d+) substate=(\S+) event=(\S+)`)

// notifies returns the NOTIFYs the sipp transferor logged, as
// "CODE SUBSCRIPTION-STATE".
func notifies(t *testing.T, res *testbed.SippResult) []string {
	t.Helper()
	var out []string
	event := ""
	for _, m := range notifyLine.FindAllStringSubmatch(res.Logs, -1) {
		state := m[2]
		if strings.HasPrefix(state, "active;expires=") {
			state = "active"
		}
		out = append(out, m[1]+" "+state)
		if event == "" {
			event = m[3]
		}
		if m[3] != event || !strings.HasPrefix(m[3], "refer") {
			t.Errorf("NOTIFY events %q and %q: one subscription, Event refer", event, m[3])
		}
	}
	return out
}

// TestTransferReceived: a sipp transferor calls the daemon (answered at
// once) and refers it to a sipp target; the transferor hears what became
// of the new call through NOTIFYs (RFC 3515), and the daemon keeps or
// ends the original call by that outcome.
func TestTransferReceived(t *testing.T) {
	t.Run("target answers: 100, 180, 200; the transferor hangs up", func(t *testing.T) {
		td := startTransferDaemon(t)
		target := testbed.StartSipp(t, testbed.SippOptions{Scenario: "uas", Timeout: 60 * time.Second})
		targetURI := "sip:target@" + target.Addr()
		res, err := testbed.RunSipp(t, testbed.SippOptions{Scenario: "refer_transferor.xml", Target: td.sipAddr, Service: "agent",
			Vars: map[string]string{"target": targetURI, "after": "bye"}, Timeout: 30 * time.Second})
		if err != nil {
			t.Fatalf("transferor: %v\n%s", err, td.proc.Log())
		}
		if got, want := strings.Join(notifies(t, res), ", "), "100 active, 180 active, 200 terminated;reason=noresource"; got != want {
			t.Errorf("NOTIFYs %q, want %q", got, want)
		}
		orig := td.callEvent(t, "", "active")
		te := td.transferEvent(t, "trying")
		if te.Call != orig.ID || te.Target != targetURI {
			t.Errorf("transfer event %+v, want call %s target %s", te, orig.ID, targetURI)
		}
		if te = td.transferEvent(t, "ringing"); te.Code != 180 {
			t.Errorf("ringing event %+v", te)
		}
		te = td.transferEvent(t, "succeeded")
		if te.Code != 200 || te.NewCall == "" || te.NewCall == orig.ID {
			t.Errorf("succeeded event %+v", te)
		}
		if end := td.callEvent(t, orig.ID, "ended"); end.Reason != "transferred to "+targetURI {
			t.Errorf("original call ended with reason %q", end.Reason)
		}
		// One call left: the new one, up with the target.
		calls, err := td.client.Calls(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 1 || calls[0].ID != te.NewCall || calls[0].State != "active" || calls[0].Remote != targetURI {
			t.Fatalf("calls after the transfer: %+v", calls)
		}
		if err := td.client.Hangup(context.Background(), te.NewCall); err != nil {
			t.Fatal(err)
		}
		if _, err := target.Wait(15 * time.Second); err != nil {
			t.Errorf("target: %v", err)
		}
	})

	t.Run("target busy: NOTIFY 486, the original call stays up", func(t *testing.T) {
		td := startTransferDaemon(t)
		target := testbed.StartSipp(t, testbed.SippOptions{Scenario: "uas_busy.xml", Timeout: 60 * time.Second})
		targetURI := "sip:target@" + target.Addr()
		transferor := testbed.StartSipp(t, testbed.SippOptions{Scenario: "refer_transferor.xml", Target: td.sipAddr, Service: "agent",
			Vars: map[string]string{"target": targetURI, "after": "info"}, Timeout: 30 * time.Second})
		orig := td.callEvent(t, "", "active")
		te := td.transferEvent(t, "failed")
		if te.Call != orig.ID || te.Code != 486 || te.Reason != "Busy Here" {
			t.Errorf("failed event %+v", te)
		}
		// The daemon's API: the original call is still up and says why
		// the transfer failed.
		calls, err := td.client.Calls(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 1 || calls[0].ID != orig.ID || calls[0].State != "active" || calls[0].Transfer == nil ||
			calls[0].Transfer.State != "failed" || calls[0].Transfer.Code != 486 {
			t.Fatalf("calls after the failed transfer: %+v", calls)
		}
		// The agent signals on that call (SIP INFO); the transferor then
		// hangs up.
		if err := td.client.DTMF(context.Background(), orig.ID, "1"); err != nil {
			res := transferor.Stop()
			t.Fatalf("dtmf: %v\ntransferor errors:\n%s\nmessages:\n%s", err, res.Errors, res.Messages)
		}
		if end := td.callEvent(t, orig.ID, "ended"); end.Reason != "remote hangup" {
			t.Errorf("original call ended with reason %q", end.Reason)
		}
		res, err := transferor.Wait(15 * time.Second)
		if err != nil {
			t.Fatalf("transferor: %v", err)
		}
		if got, want := strings.Join(notifies(t, res), ", "), "100 active, 180 active, 486 terminated;reason=noresource"; got != want {
			t.Errorf("NOTIFYs %q, want %q", got, want)
		}
		if _, err := target.Wait(15 * time.Second); err != nil {
			t.Errorf("target: %v", err)
		}
	})

	t.Run("transferor never hangs up: the daemon ends the original call", func(t *testing.T) {
		td := startTransferDaemon(t)
		target := testbed.StartSipp(t, testbed.SippOptions{Scenario: "uas", Timeout: 60 * time.Second})
		targetURI := "sip:target@" + target.Addr()
		res, err := testbed.RunSipp(t, testbed.SippOptions{Scenario: "refer_transferor.xml", Target: td.sipAddr, Service: "agent",
			Vars: map[string]string{"target": targetURI, "after": "wait"}, Timeout: 30 * time.Second})
		if err != nil {
			t.Fatalf("transferor (waits for the daemon's BYE): %v\n%s", err, td.proc.Log())
		}
		if n := notifies(t, res); len(n) == 0 || n[len(n)-1] != "200 terminated;reason=noresource" {
			t.Errorf("NOTIFYs %q", n)
		}
		orig := td.callEvent(t, "", "active")
		if end := td.callEvent(t, orig.ID, "ended"); end.Reason != "transferred to "+targetURI {
			t.Errorf("original call ended with reason %q", end.Reason)
		}
		if _, err := td.proc.WaitLine("transferred call not ended by the transferor", 10*time.Second); err != nil {
			t.Error(err)
		}
		calls, err := td.client.Calls(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 1 || calls[0].ID == orig.ID {
			t.Fatalf("calls after the transfer: %+v", calls)
		}
		if err := td.client.Hangup(context.Background(), calls[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := target.Wait(15 * time.Second); err != nil {
			t.Errorf("target: %v", err)
		}
	})
}

// TestAttendedTransfer: the two ends of an attended (consultation)
// transfer that reach the agent's phone (RFC 3891 Replaces with RFC 3515).
func TestAttendedTransfer(t *testing.T) {
	t.Run("the agent is transferred: the INVITE to the target carries Replaces and Referred-By", func(t *testing.T) {
		td := startTransferDaemon(t)
		target := testbed.StartSipp(t, testbed.SippOptions{Scenario: "uas_log_invite.xml", Timeout: 60 * time.Second})
		targetURI := "sip:target@" + target.Addr()
		// The consultation call between the transferor and the target,
		// as the target knows it.
		const consult = "consult-1@127.0.0.1;to-tag=t-tag;from-tag=f-tag"
		referTo := targetURI + "?Replaces=" + url.PathEscape(consult)
		res, err := testbed.RunSipp(t, testbed.SippOptions{Scenario: "refer_transferor.xml", Target: td.sipAddr, Service: "agent",
			Vars: map[string]string{"target": referTo, "after": "bye"}, Timeout: 30 * time.Second})
		if err != nil {
			t.Fatalf("transferor: %v\n%s", err, td.proc.Log())
		}
		if got, want := strings.Join(notifies(t, res), ", "), "100 active, 180 active, 200 terminated;reason=noresource"; got != want {
			t.Errorf("NOTIFYs %q, want %q", got, want)
		}
		te := td.transferEvent(t, "succeeded")
		if te.Target != targetURI {
			t.Errorf("transfer target %q, want %q (the URI without its headers)", te.Target, targetURI)
		}
		if err := td.client.Hangup(context.Background(), te.NewCall); err != nil {
			t.Fatal(err)
		}
		tres, err := target.Wait(15 * time.Second)
		if err != nil {
			t.Fatalf("target: %v", err)
		}
		if got := tres.LogValue("ruri"); got != targetURI {
			t.Errorf("Request-URI %q, want %q", got, targetURI)
		}
		if got := tres.LogValue("replaces"); got != consult {
			t.Errorf("Replaces %q, want %q", got, consult)
		}
		if got, want := tres.LogValue("referred_by"), "<sip:sipp@127.0.0.1:"+strconv.Itoa(res.LocalPort)+">"; got != want {
			t.Errorf("Referred-By %q, want %q", got, want)
		}
	})

	t.Run("the agent is the target: the transferee's INVITE replaces the consultation call", func(t *testing.T) {
		td := startTransferDaemon(t)
		consult := testbed.StartSipp(t, testbed.SippOptions{Scenario: "invite_consult.xml", Target: td.sipAddr, Service: "agent",
			Timeout: 60 * time.Second})
		orig := td.callEvent(t, "", "active")
		replaces := consult.WaitLog("replaces", 15*time.Second)
		if !strings.HasPrefix(replaces, orig.ID+";") {
			t.Fatalf("consultation call logged %q, want the dialog of call %s", replaces, orig.ID)
		}
		transferee := testbed.StartSipp(t, testbed.SippOptions{Scenario: "invite_replaces.xml", Target: td.sipAddr, Service: "agent",
			Vars: map[string]string{"replaces": replaces}, Timeout: 30 * time.Second})
		nc := td.callEvent(t, "", "active")
		if nc.ID == orig.ID || nc.Replaces != orig.ID || nc.Direction != "incoming" {
			t.Errorf("new call %+v, want an incoming call replacing %s", nc, orig.ID)
		}
		// The transferee answered at once (a 180 fails its scenario) and
		// hangs up straight after its ACK, so the two calls end in either
		// order.
		ends := td.callEnds(t, orig.ID, nc.ID)
		if ends[orig.ID] != "replaced by call "+nc.ID || ends[nc.ID] != "remote hangup" {
			t.Errorf("calls ended with %q, want the consultation call replaced by %s and the new call hung up", ends, nc.ID)
		}
		// The transferor got the BYE.
		if _, err := consult.Wait(15 * time.Second); err != nil {
			t.Errorf("consultation call: %v", err)
		}
		if _, err := transferee.Wait(15 * time.Second); err != nil {
			t.Errorf("transferee: %v\n%s", err, td.proc.Log())
		}
	})

	t.Run("no such dialog: 481 and nothing rings", func(t *testing.T) {
		td := startTransferDaemon(t)
		res, err := testbed.RunSipp(t, testbed.SippOptions{Scenario: "invite_replaces.xml", Target: td.sipAddr, Service: "agent",
			Vars: map[string]string{"replaces": "gone@127.0.0.1;to-tag=a;from-tag=b"}, Timeout: 15 * time.Second})
		if err == nil || !strings.Contains(res.Messages, "SIP/2.0 481") {
			t.Fatalf("transferee: %v, want its call refused with 481\n%s", err, res.Messages)
		}
		calls, err := td.client.Calls(context.Background())
		if err != nil || len(calls) != 0 {
			t.Fatalf("calls: %+v %v", calls, err)
		}
	})
}

// TestAttendedTransferByAgent: the agent has a caller (a sipp that
// accepts REFER and reports the outcome) and a consultation call to a
// supervisor (a sipp that logs its dialog), and connects them.
func TestAttendedTransferByAgent(t *testing.T) {
	ctx := context.Background()
	start := func(t *testing.T, frag, after string) (td *transferDaemon, customer, sup *testbed.Sipp, c1, c2 phone.CallInfo) {
		t.Helper()
		td = startTransferDaemon(t)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("daemon log:\n%s", td.proc.Log())
			}
		})
		customer = testbed.StartSipp(t, testbed.SippOptions{Scenario: "uac_refer_recipient.xml", Target: td.sipAddr, Service: "agent",
			Vars: map[string]string{"frag": frag, "after": after}, Timeout: 60 * time.Second})
		c1 = td.callEvent(t, "", "active")
		sup = testbed.StartSipp(t, testbed.SippOptions{Scenario: "uas_log_invite.xml", Timeout: 60 * time.Second})
		c2, err := td.client.Dial(ctx, "sip:supervisor@"+sup.Addr(), -1)
		if err != nil {
			t.Fatal(err)
		}
		td.callEvent(t, c2.ID, "active")
		return td, customer, sup, c1, c2
	}

	t.Run("success: the caller is referred to the supervisor with Replaces; both calls end", func(t *testing.T) {
		td, customer, sup, c1, c2 := start(t, "200 OK", "wait")
		// No call named: the one besides the consultation call.
		if err := td.client.AttendedTransfer(ctx, "", c2.ID); err != nil {
			t.Fatalf("attended transfer: %v\n%s", err, td.proc.Log())
		}
		referTo := customer.WaitLog("refer_to", 5*time.Second)
		uri, replaces, ok := strings.Cut(strings.Trim(referTo, "<>"), "?Replaces=")
		if !ok {
			t.Fatalf("Refer-To %q has no Replaces", referTo)
		}
		if want := "sip:supervisor@" + sup.Addr(); uri != want {
			t.Errorf("Refer-To URI %q, want %q", uri, want)
		}
		got, err := url.PathUnescape(replaces)
		if err != nil {
			t.Fatal(err)
		}
		if want := sup.WaitLog("dialog", 5*time.Second); got != want || !strings.HasPrefix(got, c2.ID+";") {
			t.Errorf("Replaces %q, want the consultation call as the supervisor knows it, %q", got, want)
		}
		if end := td.callEvent(t, c1.ID, "ended"); end.Reason != "transferred" {
			t.Errorf("caller's call ended with reason %q", end.Reason)
		}
		// The supervisor's sipp does not replace its dialog: the daemon
		// ends the consultation call after the grace.
		if end := td.callEvent(t, c2.ID, "ended"); end.Reason != "transferred: the target kept the consultation call" {
			t.Errorf("consultation call ended with reason %q", end.Reason)
		}
		for name, s := range map[string]*testbed.Sipp{"caller": customer, "supervisor": sup} {
			if _, err := s.Wait(15 * time.Second); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})

	t.Run("failure: both calls stay up", func(t *testing.T) {
		td, customer, sup, c1, c2 := start(t, "486 Busy Here", "bye")
		err := td.client.AttendedTransfer(ctx, c1.ID, c2.ID)
		if err == nil || !strings.Contains(err.Error(), "486") {
			t.Fatalf("attended transfer refused by the transferee: %v, want an error naming 486", err)
		}
		// The caller hangs up on its own (it kept its call), the agent
		// ends the consultation.
		if end := td.callEvent(t, c1.ID, "ended"); end.Reason != "remote hangup" {
			t.Errorf("caller's call ended with reason %q", end.Reason)
		}
		calls, err := td.client.Calls(ctx)
		if err != nil || len(calls) != 1 || calls[0].ID != c2.ID || calls[0].State != "active" {
			t.Fatalf("calls: %+v %v", calls, err)
		}
		if err := td.client.Hangup(ctx, c2.ID); err != nil {
			t.Fatal(err)
		}
		for name, s := range map[string]*testbed.Sipp{"caller": customer, "supervisor": sup} {
			if _, err := s.Wait(15 * time.Second); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}
