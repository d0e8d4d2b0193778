// Package config reads the softphone's ini file.
//
// Sections follow the Genesys `domain.section.setting` grammar: the setting
// `policy.session.auto_answer` is the key `auto_answer` of the section
// `[policy.session]`. A key given several times in one section is a list in
// priority order (the first is the highest); only the device lists may repeat.
//
// Loading is three steps: Default() gives every setting its built-in value,
// the file overlays only the keys it holds, and validation checks the whole.
// Every error names the file, the section and the key (and the line); an
// unknown key suggests the nearest known one.
//
//	-c FILE, $SOFTPHONE_CONFIG, ~/.config/softphone, /etc/softphone
//	        │ Locate
//	        ▼
//	Default() ──► *Config ◄── overlay: the keys the file holds
//	                 │          (gopkg.in/ini.v1, sections and keys checked
//	                 │           against the known ones)
//	                 ▼
//	              validate ──► *Config, warnings
//	                       └─► error joining every *Error (file, section, key, line)
//
// The package reads the file only: it imports none of the softphone's
// other packages, and the layers above convert its sections into their own
// settings (the phone turns Connectivity into sip.Account, for instance).
package config
