package config_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"convene/config"
)

func TestRedisURLForEveryTopology(t *testing.T) {
	t.Parallel()
	good := []struct {
		url  string
		want config.Redis
	}{
		{"redis://127.0.0.1:6379/0", config.Redis{Topology: config.RedisSingle, URL: "redis://127.0.0.1:6379/0"}},
		{"unix:///run/redis.sock?db=2", config.Redis{Topology: config.RedisSingle, URL: "unix:///run/redis.sock?db=2"}},
		{"rediss://:pw@redis.example.org:6380", config.Redis{Topology: config.RedisSingle, URL: "rediss://:pw@redis.example.org:6380"}},
		{"redis+sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/convene",
			config.Redis{Topology: config.RedisSentinel, Addrs: []string{"10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"}, MasterName: "convene"}},
		{"redis+sentinel://:s%40cret@s1:26379/mymaster/3",
			config.Redis{Topology: config.RedisSentinel, Addrs: []string{"s1:26379"}, MasterName: "mymaster", Password: "s@cret", DB: 3}},
		{"redis+sentinel://[::1]:26379/m",
			config.Redis{Topology: config.RedisSentinel, Addrs: []string{"[::1]:26379"}, MasterName: "m"}},
		{"redis+cluster://:pw@n1:7000,n2:7001",
			config.Redis{Topology: config.RedisCluster, Addrs: []string{"n1:7000", "n2:7001"}, Password: "pw"}},
	}
	for _, tc := range good {
		got, err := config.ParseRedisURL(tc.url)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, %v; want %+v", tc.url, got, err, tc.want)
		}
	}
	bad := map[string]string{
		"http://x":                              "must be a",
		"127.0.0.1:6379":                        "must be a",
		"redis+sentinel://s1:26379":             "master's name",
		"redis+sentinel://s1:26379/":            "master's name",
		"redis+sentinel://s1:26379/m/x":         "database number",
		"redis+sentinel://s1:26379/m/1/2":       "master's name",
		"redis+sentinel://s1/m":                 "host:port",
		"redis+sentinel://s1:26379,,s2:26379/m": "host:port",
		"redis+sentinel://s1:0/m":               "host:port",
		"redis+sentinel://user:pw@s1:26379/m":   "no user name",
		"redis+sentinel://s1:26379/m?db=1":      "no query",
		"redis+cluster://n1:7000/0":             "no path",
		"redis+cluster://":                      "host:port",
		"redis+cluster://n1:99999":              "host:port",
	}
	for u, want := range bad {
		if _, err := config.ParseRedisURL(u); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", u, err, want)
		}
	}
	// Load names the variable.
	_, err := config.Load(config.ModeWorker, env("REDIS_URL", "redis+sentinel://s1:26379", "SIGNING_KEY", key))
	var cerr *config.Error
	if !errors.As(err, &cerr) || cerr.Var != "REDIS_URL" {
		t.Errorf("Load: %v, want a *config.Error for REDIS_URL", err)
	}
	c, err := config.Load(config.ModeWorker, env("REDIS_URL", "redis+sentinel://s1:26379,s2:26379/convene/1", "SIGNING_KEY", key, "MAIL_URL", "smtp://127.0.0.1:25", "MAIL_FROM", "c@example.org"))
	if err != nil || c.Redis.Topology != config.RedisSentinel || c.Redis.MasterName != "convene" || c.Redis.DB != 1 {
		t.Errorf("Load: %+v, %v", c.Redis, err)
	}
}
