package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/siteclock/siteclock/backoffice"
	"github.com/siteclock/siteclock/photoseal"
)

// photo opens photos kiosks sealed to the company's photo key, for a
// person: the ones the office refused (kept on the kiosk), and those of a
// kiosk that never uploads (provisioned by roster file, with the office's
// photo-key.pub copied into its state folder).
func photo(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "open" {
		return errors.New("photo: say `siteclock-server photo open -data DIR [-out DIR] FILE...`")
	}
	f := newFlags("photo open", stderr)
	out := f.fs.String("out", ".", "folder to write the opened JPEGs to")
	if err := f.fs.Parse(args[1:]); err != nil {
		return err
	}
	if f.data == "" {
		return errors.New("photo open: give the data folder holding the company's photo key with -data DIR")
	}
	if f.fs.NArg() == 0 {
		return errors.New("photo open: name the sealed photo files to open (from a kiosk's photos/ folder)")
	}
	store, err := backoffice.Open(f.data, backoffice.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	for _, in := range f.fs.Args() {
		b, err := os.ReadFile(in)
		if err != nil {
			return fmt.Errorf("photo open: %w", err)
		}
		jpeg := b
		if photoseal.IsSealed(b) {
			if jpeg, err = store.OpenSealedPhoto(b); err != nil {
				return fmt.Errorf("photo open %s: %w", in, err)
			}
		}
		name := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in)) + ".jpg"
		dst := filepath.Join(*out, name)
		// Never over an existing file: in a kiosk's photos folder that
		// would be the sealed original.
		w, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("photo open %s: %w; write to another folder with -out DIR", in, err)
		}
		_, err = w.Write(jpeg)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("photo open %s: write %s: %w", in, dst, err)
		}
		fmt.Fprintf(stdout, "%s -> %s\n", in, dst)
	}
	return nil
}
