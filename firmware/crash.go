package firmware

import (
	"os"
	"syscall"
)

// CrashEnv names a step of an install at which the process kills itself
// with SIGKILL, as a power cut would stop it: the tests of
// cmd/siteclockd set it to prove that a kill at each step leaves one
// version that runs. Unset, as in every real run, it does nothing.
const CrashEnv = "SITECLOCK_TEST_CRASH_AT"

var crashAt = os.Getenv(CrashEnv)

// crash kills the process if step is the one CrashEnv names.
func crash(step string) {
	if crashAt != "" && crashAt == step {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
