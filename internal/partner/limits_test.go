package partner

import (
	"errors"
	"testing"
)

func TestLimitValue(t *testing.T) {
	tests := []struct {
		name    string
		field   string
		in      int64
		want    uint32
		wantErr bool
	}{
		{"one-per-second", "per_second", 1, 1, false},
		{"max-per-second", "per_second", MaxPerSecond, MaxPerSecond, false},
		{"above-max-per-second", "per_second", MaxPerSecond + 1, 0, true},
		{"max-per-minute", "per_minute", MaxPerMinute, MaxPerMinute, false},
		{"above-max-per-minute", "per_minute", MaxPerMinute + 1, 0, true},
		{"max-per-day", "per_day", MaxPerDay, MaxPerDay, false},
		{"above-max-per-day", "per_day", MaxPerDay + 1, 0, true},
		{"above-uint32", "per_day", 1 << 33, 0, true},
		{"zero-refused", "per_minute", 0, 0, true},
		{"negative-refused", "per_day", -5, 0, true},
		{"qualified-field", "limits.per_second", 7, 7, false},
		{"qualified-field-refused", "limits.per_second", -1, 0, true},
		{"unknown-window", "per_hour", 5, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LimitValue(tt.field, tt.in)
			if tt.wantErr {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tt.field {
					t.Fatalf("LimitValue(%q, %d) error = %v, want a FieldError naming %s", tt.field, tt.in, err, tt.field)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("LimitValue(%q, %d) = %d, %v; want %d", tt.field, tt.in, got, err, tt.want)
			}
		})
	}
}

func TestLimitsValidateAndString(t *testing.T) {
	tests := []struct {
		name       string
		l          Limits
		wantFields []string
		wantString string
	}{
		{"zero-is-valid-and-empty", Limits{}, nil, ""},
		{"one-window", Limits{PerSecond: 50}, nil, "per_second=50"},
		{"every-window", Limits{PerSecond: 1, PerMinute: 2, PerDay: 3}, nil, "per_second=1 per_minute=2 per_day=3"},
		{"each-bad-window-named", Limits{PerSecond: MaxPerSecond + 1, PerDay: MaxPerDay + 1}, []string{"per_second", "per_day"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.l.Validate()
			var got []string
			for _, e := range unjoinAll(err) {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("error %v is not a FieldError", e)
				}
				got = append(got, fe.Field)
			}
			if len(got) != len(tt.wantFields) {
				t.Fatalf("Validate named %v, want %v", got, tt.wantFields)
			}
			for i := range got {
				if got[i] != tt.wantFields[i] {
					t.Fatalf("Validate named %v, want %v", got, tt.wantFields)
				}
			}
			if tt.wantFields == nil {
				if s := tt.l.String(); s != tt.wantString {
					t.Errorf("String() = %q, want %q", s, tt.wantString)
				}
				if tt.l.IsZero() != (tt.wantString == "") {
					t.Errorf("IsZero() = %v", tt.l.IsZero())
				}
			}
		})
	}
}

func TestPartnerValidateNamesLimit(t *testing.T) {
	p := &Partner{ID: "acme", Tier: "free", State: Active, Limits: Limits{PerMinute: MaxPerMinute + 1}}
	var fe *FieldError
	if err := p.Validate(); !errors.As(err, &fe) || fe.Field != "limits.per_minute" {
		t.Fatalf("Validate() = %v, want a FieldError naming limits.per_minute", err)
	}
	p.Limits.PerMinute = MaxPerMinute
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate() at the bound = %v", err)
	}
}

func unjoinAll(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
