// Command softphone is the SIP softphone daemon for contact-centre agents and
// the command line that drives it.
//
//	softphone run [-c FILE]            the daemon
//	softphone devices [-c FILE] [--json]  devices and what the policy makes of them
//	softphone check-config [-c FILE]   checks a configuration file
//	softphone status | calls | dial | answer | … talk to the running daemon
//
// The daemon (run) is wired once, in order, and torn down in reverse:
//
//	flags ─► config.Locate / Load ─► logger ([system.log])
//	      ─► instance lock ─► audio.Open ─► phone.New ─► control.NewServer
//	      ─► phone.Run(ctx) until SIGINT/SIGTERM (SIGHUP: phone.Reload;
//	         a second SIGINT/SIGTERM exits at once)
//	      ─► control server closed ─► audio closed ─► lock released
//
// Every other command is a client: it reads the same configuration to find
// the daemon's local API and its token, and talks to it over HTTP
// (control.RunCLI).
package main
