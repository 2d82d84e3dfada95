package store

import (
	"embed"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFS embed.FS

func script(name string) *redis.Script {
	b, err := luaFS.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic("store: missing embedded script " + name) // a build defect, caught by every test
	}
	return redis.NewScript(string(b))
}

var (
	createMeetingScript = script("create_meeting")
	registerScript      = script("register")
	claimScript         = script("claim")
	finishScript        = script("finish")
)
