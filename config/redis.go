package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Redis topologies, as Redis.Topology.
const (
	RedisSingle   = "single"   // one server: redis://, rediss://, unix://
	RedisSentinel = "sentinel" // a primary that Sentinel fails over: redis+sentinel://
	RedisCluster  = "cluster"  // a Redis Cluster: redis+cluster://
)

// Redis is where Convene's Redis is, read from REDIS_URL (SPEC §2): one
// server, a Sentinel-managed primary with replicas, or a Cluster.
type Redis struct {
	Topology string
	// URL is the URL of one server (RedisSingle), as given.
	URL string
	// Addrs are the sentinels (RedisSentinel) or the seed nodes
	// (RedisCluster), host:port each.
	Addrs []string
	// MasterName is the primary Sentinel watches (RedisSentinel).
	MasterName string
	// Password authenticates to the Redis servers (never to the
	// sentinels); DB is the database (RedisSentinel; a Cluster has only 0).
	Password string
	DB       int
}

// ParseRedisURL reads a REDIS_URL:
//
//	redis://[[user]:password@]host[:port][/db], rediss://…, unix:///path?db=N
//	redis+sentinel://[:password@]host:port[,host:port…]/master_name[/db]
//	redis+cluster://[:password@]host:port[,host:port…]
func ParseRedisURL(s string) (Redis, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Redis{}, fmt.Errorf("%q must be a redis://, rediss://, unix://, redis+sentinel:// or redis+cluster:// URL", s)
	}
	switch scheme {
	case "redis", "rediss", "unix":
		if _, err := url.Parse(s); err != nil {
			return Redis{}, fmt.Errorf("%q is not a URL", s)
		}
		return Redis{Topology: RedisSingle, URL: s}, nil
	case "redis+sentinel", "redis+cluster":
	default:
		return Redis{}, fmt.Errorf("%q must be a redis://, rediss://, unix://, redis+sentinel:// or redis+cluster:// URL", s)
	}
	r := Redis{Topology: RedisSentinel}
	if scheme == "redis+cluster" {
		r.Topology = RedisCluster
	}
	if strings.ContainsAny(rest, "?#") {
		return Redis{}, fmt.Errorf("%q: a %s:// URL takes no query or fragment", s, scheme)
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(hosts, "@"); at >= 0 {
		user, pass, hasPass := strings.Cut(hosts[:at], ":")
		if user != "" || !hasPass {
			return Redis{}, fmt.Errorf("%q: give the password as :password@ (no user name)", s)
		}
		p, err := url.PathUnescape(pass)
		if err != nil {
			return Redis{}, fmt.Errorf("%q: the password is not URL-encoded properly", s)
		}
		r.Password, hosts = p, hosts[at+1:]
	}
	for _, h := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(h)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return Redis{}, fmt.Errorf("%q: %q is not a host:port", s, h)
		}
		r.Addrs = append(r.Addrs, h)
	}
	parts := strings.Split(path, "/")
	if r.Topology == RedisCluster {
		if path != "" {
			return Redis{}, fmt.Errorf("%q: a Cluster URL has no path (a Cluster has only database 0)", s)
		}
		return r, nil
	}
	if parts[0] == "" || len(parts) > 2 {
		return Redis{}, fmt.Errorf("%q: give the master's name as the path: redis+sentinel://host:port,…/master_name[/db]", s)
	}
	r.MasterName = parts[0]
	if len(parts) == 2 {
		db, err := strconv.Atoi(parts[1])
		if err != nil || db < 0 {
			return Redis{}, fmt.Errorf("%q: %q is not a database number", s, parts[1])
		}
		r.DB = db
	}
	return r, nil
}
