package config

import (
	"strings"
	"testing"
	"time"
)

// TestGenesysKeys: the spellings an administrator copies from a Genesys
// Softphone configuration load with the Genesys meaning; keys known but not
// acted on warn once, naming the key; unknown keys stay errors.
func TestGenesysKeys(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		check    func(t *testing.T, c *Config)
		wantErr  string
		wantWarn string
	}{
		{name: "dtmf Rfc2833", in: "[policy.session]\ndtmf_method = Rfc2833\n", check: wantDTMF("rfc4733")},
		{name: "dtmf RFC2833 upper case", in: "[policy.session]\ndtmf_method = RFC2833\n", check: wantDTMF("rfc4733")},
		{name: "dtmf InbandRtp", in: "[policy.session]\ndtmf_method = InbandRtp\n", check: wantDTMF("inband")},
		{name: "dtmf inbandrtp lower case", in: "[policy.session]\ndtmf_method = inbandrtp\n", check: wantDTMF("inband")},
		{name: "dtmf Info", in: "[policy.session]\ndtmf_method = Info\n", check: wantDTMF("info")},
		{name: "dtmf ours still", in: "[policy.session]\ndtmf_method = inband\n", check: wantDTMF("inband")},
		{name: "dtmf unknown", in: "[policy.session]\ndtmf_method = sipinfo\n",
			wantErr: `[policy.session] dtmf_method: "sipinfo" is not one of rfc4733 (or Rfc2833), info, inband (or InbandRtp)`},
		{name: "rtp_inactivity_timeout is rtp_timeout", in: "[policy.session]\nrtp_inactivity_timeout = 45\n",
			check: func(t *testing.T, c *Config) {
				if c.Session.RTPTimeout != 45*time.Second {
					t.Errorf("rtp timeout = %v, want 45s", c.Session.RTPTimeout)
				}
			}},
		{name: "rtp_timeout and rtp_inactivity_timeout both", in: "[policy.session]\nrtp_timeout = 30\nrtp_inactivity_timeout = 45\n",
			wantErr: "test.ini:3: [policy.session] rtp_inactivity_timeout: is the Genesys spelling of rtp_timeout: give one of them, not both"},
		{name: "sip port range", in: "[policy.endpoint]\nsip_port_min = 5070\nsip_port_max = 5080\n",
			check: func(t *testing.T, c *Config) {
				if c.Endpoint.SIPPort != 5070 || c.Endpoint.SIPPortMax != 5080 {
					t.Errorf("sip ports = %d-%d, want 5070-5080", c.Endpoint.SIPPort, c.Endpoint.SIPPortMax)
				}
			}},
		{name: "sip port range reversed", in: "[policy.endpoint]\nsip_port_min = 5070\nsip_port_max = 5060\n",
			wantErr: "[policy.endpoint] sip_port_max: 5060 is below sip_port 5070"},
		{name: "sip port max with port 0", in: "[policy.endpoint]\nsip_port = 0\nsip_port_max = 5060\n",
			wantErr: "[policy.endpoint] sip_port_max: needs sip_port_min"},
		{name: "sip_port and sip_port_min both", in: "[policy.endpoint]\nsip_port = 5060\nsip_port_min = 5070\n",
			wantErr: "sip_port_min: is the Genesys spelling of sip_port"},
		{name: "qos TOS bytes", in: "[policy.endpoint]\nsignaling_qos = 104\naudio_qos = 184\n",
			check: func(t *testing.T, c *Config) {
				if c.Endpoint.SignalingDSCP != 26 || c.Endpoint.AudioDSCP != 46 {
					t.Errorf("dscp signaling %d audio %d, want 26 and 46", c.Endpoint.SignalingDSCP, c.Endpoint.AudioDSCP)
				}
			}},
		{name: "qos with ECN bits", in: "[policy.endpoint]\naudio_qos = 46\n",
			wantErr: `[policy.endpoint] audio_qos: "46" is not a TOS byte (DSCP×4, its two ECN bits 0): for DSCP 46 write 184`},
		{name: "qos out of range", in: "[policy.endpoint]\nsignaling_qos = 256\n",
			wantErr: `signaling_qos: "256" is not a TOS byte from 0 to 255`},
		{name: "public address host name", in: "[policy.endpoint]\npublic_address = agent7.example.com\n",
			check: func(t *testing.T, c *Config) {
				if c.Endpoint.PublicAddress != "agent7.example.com" {
					t.Errorf("public_address = %q", c.Endpoint.PublicAddress)
				}
			}},
		{name: "public address $auto", in: "[policy.endpoint]\npublic_address = $AUTO\n",
			check: func(t *testing.T, c *Config) {
				if c.Endpoint.PublicAddress != "" {
					t.Errorf("public_address = %q, want empty", c.Endpoint.PublicAddress)
				}
			}},
		{name: "public address bad", in: "[policy.endpoint]\npublic_address = a b\n",
			wantErr: `public_address: "a b" is not an IP address or host name`},
		{name: "os version in user agent", in: "[policy.endpoint]\ninclude_os_version_in_user_agent_header = 1\n",
			check: func(t *testing.T, c *Config) {
				if !c.Endpoint.IncludeOSVersion {
					t.Error("include_os_version_in_user_agent_header not read")
				}
			}},
		{name: "vq report", in: "[policy.endpoint]\nvq_report_publish = 1\nvq_report_collector = sip:collector@10.0.0.1:5070\n[policy.session]\nvq_alarm_threshold = 3.2\n",
			check: func(t *testing.T, c *Config) {
				if !c.Endpoint.VQReportPublish || c.Endpoint.VQReportCollector != "sip:collector@10.0.0.1:5070" || c.Session.VQAlarmThreshold != 3.2 {
					t.Errorf("vq = %+v / %v", c.Endpoint, c.Session.VQAlarmThreshold)
				}
			}},
		{name: "vq report needs a collector", in: "[policy.endpoint]\nvq_report_publish = 1\n",
			wantErr: "vq_report_collector: is required when vq_report_publish = 1"},
		{name: "vq collector not a SIP URI", in: "[policy.endpoint]\nvq_report_collector = http://collector\n",
			wantErr: `vq_report_collector: "http://collector" is not a SIP URI`},
		{name: "vq alarm threshold bad", in: "[policy.session]\nvq_alarm_threshold = 6\n",
			wantErr: `vq_alarm_threshold: "6" is not a MOS from 1 to 5`},
		{name: "vq alarm default", in: "", check: func(t *testing.T, c *Config) {
			if c.Session.VQAlarmThreshold != 3.5 {
				t.Errorf("vq_alarm_threshold = %v, want 3.5", c.Session.VQAlarmThreshold)
			}
		}},
		{name: "known key not acted on warns", in: "[policy.endpoint]\nvideo_qos = 136\n",
			wantWarn: "test.ini:2: [policy.endpoint] video_qos: is accepted but not acted on: video is not supported"},
		{name: "unknown key stays an error", in: "[policy.endpoint]\nvideo_qoss = 136\n",
			wantErr: "[policy.endpoint] video_qoss: unknown key (did you mean video_qos?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warns, err := Parse("test.ini", []byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			switch {
			case tt.wantWarn == "" && len(warns) > 0:
				t.Errorf("unexpected warnings: %q", warns)
			case tt.wantWarn != "" && (len(warns) != 1 || warns[0] != tt.wantWarn):
				t.Errorf("warnings = %q, want exactly %q", warns, tt.wantWarn)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func wantDTMF(m string) func(*testing.T, *Config) {
	return func(t *testing.T, c *Config) {
		t.Helper()
		if c.Session.DTMFMethod != m {
			t.Errorf("dtmf_method = %q, want %q", c.Session.DTMFMethod, m)
		}
	}
}
