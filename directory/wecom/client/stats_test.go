package client

import (
	"reflect"
	"testing"
	"time"
)

// fullStats has every field non-zero, so a field Add forgets shows up.
func fullStats() Stats {
	return Stats{
		Calls:             map[string]map[int]int{"user/create": {0: 3, 60104: 1}},
		HTTPStatus:        map[string]map[int]int{"user/update": {502: 2}},
		TransportErrors:   map[string]int{"user/update": 1},
		Retries:           map[string]int{"user/create": 4},
		RateLimitWaits:    map[string]int{"user/create": 5},
		RateLimitWaitTime: 2 * time.Second,
		Bans:              map[string]int{"user/create": 6},
		BanWaits:          map[string]int{"user/create": 7},
		LearnedLimits:     map[string]int{"user/create": 900},
		TokenFetches:      8,
	}
}

func TestStatsAdd(t *testing.T) {
	t.Run("the fixture sets every field", func(t *testing.T) {
		v := reflect.ValueOf(fullStats())
		for i := range v.NumField() {
			if v.Field(i).IsZero() {
				t.Errorf("fullStats leaves %s zero: set it so TestStatsAdd covers it", v.Type().Field(i).Name)
			}
		}
	})

	t.Run("adding to the zero Stats copies every field", func(t *testing.T) {
		var s Stats
		s.Add(fullStats())
		if !reflect.DeepEqual(s, fullStats()) {
			t.Fatalf("got %+v, want %+v", s, fullStats())
		}
	})

	t.Run("adding twice doubles every count", func(t *testing.T) {
		var s Stats
		s.Add(fullStats())
		s.Add(fullStats())
		want := Stats{
			Calls:             map[string]map[int]int{"user/create": {0: 6, 60104: 2}},
			HTTPStatus:        map[string]map[int]int{"user/update": {502: 4}},
			TransportErrors:   map[string]int{"user/update": 2},
			Retries:           map[string]int{"user/create": 8},
			RateLimitWaits:    map[string]int{"user/create": 10},
			RateLimitWaitTime: 4 * time.Second,
			Bans:              map[string]int{"user/create": 12},
			BanWaits:          map[string]int{"user/create": 14},
			LearnedLimits:     map[string]int{"user/create": 900}, // a limit, not a count
			TokenFetches:      16,
		}
		if !reflect.DeepEqual(s, want) {
			t.Fatalf("got %+v, want %+v", s, want)
		}
	})

	t.Run("merges disjoint apis and codes", func(t *testing.T) {
		s := Stats{Calls: map[string]map[int]int{"user/get": {0: 1}}, Bans: map[string]int{"user/get": 1}}
		s.Add(Stats{Calls: map[string]map[int]int{"user/get": {60111: 2}, "user/list_id": {0: 3}}})
		want := map[string]map[int]int{"user/get": {0: 1, 60111: 2}, "user/list_id": {0: 3}}
		if !reflect.DeepEqual(s.Calls, want) || s.Bans["user/get"] != 1 {
			t.Fatalf("got calls %v bans %v", s.Calls, s.Bans)
		}
	})

	t.Run("the lower of two learned limits holds", func(t *testing.T) {
		s := Stats{LearnedLimits: map[string]int{"user/create": 900, "user/update": 500}}
		s.Add(Stats{LearnedLimits: map[string]int{"user/create": 700, "user/update": 800, "user/delete": 50}})
		want := map[string]int{"user/create": 700, "user/update": 500, "user/delete": 50}
		if !reflect.DeepEqual(s.LearnedLimits, want) {
			t.Fatalf("got %v, want %v", s.LearnedLimits, want)
		}
	})

	t.Run("never shares a map with the added Stats", func(t *testing.T) {
		o := fullStats()
		var s Stats
		s.Add(o)
		s.Add(o) // must change s only
		if !reflect.DeepEqual(o, fullStats()) {
			t.Fatalf("Add changed its argument: %+v", o)
		}
	})

	t.Run("adding the zero Stats allocates nothing", func(t *testing.T) {
		var s Stats
		s.Add(Stats{})
		if !reflect.DeepEqual(s, Stats{}) {
			t.Fatalf("got %+v, want the zero Stats", s)
		}
	})
}
