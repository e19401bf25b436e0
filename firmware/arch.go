package firmware

import (
	"debug/buildinfo"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
)

// Arches are the architectures a release may be built for: the 64-bit
// Raspberry Pi OS (arm64), the 32-bit one (armv7, also armv6 for the
// Pi Zero and Pi 1) and PCs (amd64).
var Arches = []string{"amd64", "arm64", "armv6", "armv7"}

func knownArch(a string) bool { return slices.Contains(Arches, a) }

// Arch is the running program's architecture, as manifests name it.
func Arch() string {
	goarm := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goarm = setting(bi.Settings, "GOARM")
	}
	return archName(runtime.GOARCH, goarm)
}

func archName(goarch, goarm string) string {
	if goarch != "arm" {
		return goarch
	}
	if goarm == "" {
		goarm = "7"
	}
	// GOARM may carry ",softfloat" or ",hardfloat".
	goarm, _, _ = strings.Cut(goarm, ",")
	return "armv" + goarm
}

func setting(s []debug.BuildSetting, key string) string {
	for _, x := range s {
		if x.Key == key {
			return x.Value
		}
	}
	return ""
}

// versionFlag is the linker flag that stamps Version (see the Makefile).
const versionFlag = "github.com/siteclock/siteclock/firmware.Version="

// BinaryInfo reads the version stamped into a siteclockd binary and the
// architecture it was built for, from the build information Go records in
// every binary; the binary need not run here. The release signer uses it
// so that a manifest cannot name another version than the binary has.
func BinaryInfo(path string) (version, arch string, err error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("firmware: %s is not a Go program with build information (%v): give the siteclockd binary `make pi` or `make build` made", path, err)
	}
	if bi.Main.Path != "github.com/siteclock/siteclock" || bi.Path != "github.com/siteclock/siteclock/cmd/siteclockd" {
		return "", "", fmt.Errorf("firmware: %s is %s, not siteclockd", path, bi.Path)
	}
	ld := setting(bi.Settings, "-ldflags")
	i := strings.Index(ld, versionFlag)
	if i < 0 {
		return "", "", fmt.Errorf("firmware: %s has no version stamped in: build it with `make pi VERSION=1.4.0`", path)
	}
	version = ld[i+len(versionFlag):]
	if j := strings.IndexAny(version, " '\""); j >= 0 {
		version = version[:j]
	}
	return version, archName(setting(bi.Settings, "GOARCH"), setting(bi.Settings, "GOARM")), nil
}
