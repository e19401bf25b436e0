package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/siteclock/siteclock/backoffice"
	"github.com/siteclock/siteclock/firmware"
)

// release runs `release add`, `release list` and `release target`: the
// command-line side of the Releases page, for scripts and for an office
// without a browser at hand. A server running on the same data folder
// sees what they change within seconds.
func release(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("release: say `siteclock-server release add -data DIR MANIFEST BINARY`, `release list -data DIR` or `release target -data DIR [-device ID] VERSION`")
	}
	switch args[0] {
	case "add":
		return releaseAdd(args[1:], stdout, stderr)
	case "list":
		return releaseList(args[1:], stdout, stderr)
	case "target":
		return releaseTarget(args[1:], stdout, stderr)
	}
	return fmt.Errorf("release: unknown command %q: say add, list or target", args[0])
}

// byFlag is who the database says did it: the user running the command.
func byFlag(f *flags) *string {
	who := "command line"
	if u := os.Getenv("USER"); u != "" {
		who = u + " (command line)"
	}
	return f.fs.String("by", who, "who did it, as the Releases page shows it")
}

func releaseAdd(args []string, stdout, stderr io.Writer) error {
	f := newFlags("release add", stderr)
	keys := f.fs.String("release-keys", "", "public release keys to check the manifest's signature with (comma-separated, as `siteclockd release keygen` printed them)")
	by := byFlag(f)
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.data == "" {
		return errors.New("release add: give the data folder with -data DIR")
	}
	if f.fs.NArg() != 2 {
		return errors.New("release add: name the signed manifest and the binary: `siteclock-server release add -data DIR MANIFEST BINARY`")
	}
	trusted, err := parseReleaseKeys(*keys)
	if err != nil {
		return fmt.Errorf("release add: %w", err)
	}
	manifest, err := os.ReadFile(f.fs.Arg(0))
	if err != nil {
		return fmt.Errorf("release add: read the manifest: %w", err)
	}
	bin, err := os.Open(f.fs.Arg(1))
	if err != nil {
		return fmt.Errorf("release add: read the binary: %w", err)
	}
	defer bin.Close()
	store, err := backoffice.Open(f.data, backoffice.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	rel, created, err := store.AddRelease(manifest, bin, *by, backoffice.ReleaseOptions{Keys: trusted}, time.Now())
	if err != nil {
		return err
	}
	if !created {
		fmt.Fprintf(stdout, "%s was uploaded already, the very same (id %s); nothing changed\n", rel.Name(), rel.ID)
		return nil
	}
	fmt.Fprintf(stdout, "added %s: id %s, %d bytes, sha256 %s\n", rel.Name(), rel.ID, rel.Size, rel.SHA256)
	fmt.Fprintf(stdout, "kiosks get it once it is chosen for them: `siteclock-server release target -data %s %s`, or on the Releases page\n", f.data, rel.Version)
	return nil
}

func releaseList(args []string, stdout, stderr io.Writer) error {
	f := newFlags("release list", stderr)
	if err := f.parse(args); err != nil {
		return err
	}
	store, err := backoffice.Open(f.data, backoffice.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	rs, err := store.Releases()
	if err != nil {
		return err
	}
	ts, err := store.UpdateTargets()
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		fmt.Fprintln(stdout, "no releases")
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tARCH\tBYTES\tSHA256\tID\tUPLOADED\tBY")
		for _, r := range rs {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Version, r.Arch, r.Size, r.SHA256, r.ID,
				r.UploadedAt.Local().Format("2006-01-02 15:04"), r.UploadedBy)
		}
		tw.Flush()
	}
	if ts.All != nil {
		fmt.Fprintf(stdout, "all devices: %s (set by %s, %s)\n", ts.All.Version, ts.All.SetBy, ts.All.SetAt.Local().Format("2006-01-02 15:04"))
	} else {
		fmt.Fprintln(stdout, "all devices: no version chosen")
	}
	for id, t := range ts.Devices {
		fmt.Fprintf(stdout, "device %s: %s (set by %s, %s)\n", id, t.Version, t.SetBy, t.SetAt.Local().Format("2006-01-02 15:04"))
	}
	return nil
}

func releaseTarget(args []string, stdout, stderr io.Writer) error {
	f := newFlags("release target", stderr)
	device := f.fs.String("device", "", "the device's ID; without it, the version is for all devices")
	clear := f.fs.Bool("clear", false, "remove the version chosen (a device then follows all devices again)")
	by := byFlag(f)
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.data == "" {
		return errors.New("release target: give the data folder with -data DIR")
	}
	who := "all devices"
	if *device != "" {
		who = "device " + *device
	}
	store, err := backoffice.Open(f.data, backoffice.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	switch {
	case *clear && f.fs.NArg() == 0:
		if err := store.ClearUpdateTarget(*device, *by); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "no version chosen for %s now\n", who)
		return nil
	case *clear || f.fs.NArg() != 1:
		return errors.New("release target: give the version (`release target -data DIR [-device ID] 1.4.0`), or -clear alone")
	}
	t, err := store.SetUpdateTarget(*device, f.fs.Arg(0), *by, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s should run %s now; kiosks are offered it at their next check-in\n", who, t.Version)
	return nil
}

// parseReleaseKeys reads -release-keys: public release keys separated by
// commas (or spaces); "" is none.
func parseReleaseKeys(s string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for _, k := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		pk, err := firmware.ParsePublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("-release-keys %q: %s", k, strings.TrimPrefix(err.Error(), "firmware: "))
		}
		keys = append(keys, pk)
	}
	return keys, nil
}
