package policy

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestAnswerString(t *testing.T) {
	tests := []struct {
		a    Answer
		want string
	}{
		{AnswerUnknown, "unknown"},
		{AnswerTrue, "true"},
		{AnswerFalse, "false"},
		{Answer(42), "unknown"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("Answer(%d).String() = %q, want %q", int(tt.a), got, tt.want)
		}
	}
	var zero Answer
	if zero != AnswerUnknown {
		t.Errorf("zero Answer = %v, want unknown", zero)
	}
}

func TestParseAnswer(t *testing.T) {
	tests := []struct {
		in      string
		want    Answer
		wantErr error
	}{
		{"unknown", AnswerUnknown, nil},
		{"true", AnswerTrue, nil},
		{"false", AnswerFalse, nil},
		{" TRUE ", AnswerTrue, nil},
		{"", AnswerUnknown, ErrUnknownAnswer},
		{"yes", AnswerUnknown, ErrUnknownAnswer},
		{"1", AnswerUnknown, ErrUnknownAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAnswer(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseAnswer(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseAnswer(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestAnswerJSON(t *testing.T) {
	tests := []struct {
		a    Answer
		json string
	}{
		{AnswerUnknown, `"unknown"`},
		{AnswerTrue, `"true"`},
		{AnswerFalse, `"false"`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.a)
		if err != nil {
			t.Fatalf("Marshal(%v): %v", tt.a, err)
		}
		if string(b) != tt.json {
			t.Errorf("Marshal(%v) = %s, want %s", tt.a, b, tt.json)
		}
		var back Answer = 7
		if err := json.Unmarshal(b, &back); err != nil || back != tt.a {
			t.Errorf("Unmarshal(%s) = %v, %v, want %v", b, back, err, tt.a)
		}
	}
	var a Answer
	for _, bad := range []string{`"maybe"`, `true`, `1`} {
		if err := json.Unmarshal([]byte(bad), &a); err == nil {
			t.Errorf("Unmarshal(%s) succeeded, want an error", bad)
		}
	}
	if err := json.Unmarshal([]byte(`"maybe"`), &a); !errors.Is(err, ErrUnknownAnswer) {
		t.Errorf("Unmarshal(\"maybe\") error = %v, want ErrUnknownAnswer", err)
	}
}
