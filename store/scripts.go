package store

import (
	"embed"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFS embed.FS

// script loads lua/NAME.lua with the shared functions of lua/lib.lua
// before it. The "#!lua" shebang makes Redis treat the script as one that
// writes: it refuses it whole, before any write, when it is out of memory.
func script(name string) *redis.Script {
	lib, err := luaFS.ReadFile("lua/lib.lua")
	if err != nil {
		panic("store: missing embedded lua/lib.lua") // a build defect, caught by every test
	}
	body, err := luaFS.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic("store: missing embedded script " + name) // a build defect, caught by every test
	}
	return redis.NewScript("#!lua\n" + string(lib) + "\n" + string(body))
}

var (
	createMeetingScript      = script("create_meeting")
	updateMeetingScript      = script("update_meeting")
	cancelMeetingScript      = script("cancel_meeting")
	registerScript           = script("register")
	cancelRegistrationScript = script("cancel_registration")
	resendScript             = script("resend")
	eraseScript              = script("erase")
	claimScript              = script("claim")
	takeNoticesScript        = script("take_notices")
	claimSendsScript         = script("claim_sends")
	finishScript             = script("finish")
	addReminderScript        = script("add_reminder")
)
