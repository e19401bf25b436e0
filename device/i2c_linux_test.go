package device

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// fakeI2C answers the I2C_RDWR ioctl by reading the messages the way the
// kernel does: from the addresses in them.
type fakeI2C struct {
	writes [][]byte
	reply  []byte
	errno  error
}

func (f *fakeI2C) ioctl(fd uintptr, req uintptr, arg unsafe.Pointer) error {
	if req != i2cRDWR {
		return syscall.ENOTTY
	}
	if f.errno != nil {
		return f.errno
	}
	data := (*i2cRdwrData)(arg)
	msgs := unsafe.Slice((*i2cMsg)(data.msgs), data.nmsgs)
	for _, m := range msgs {
		buf := unsafe.Slice((*byte)(m.buf), m.len)
		if m.flags&i2cMRD != 0 {
			copy(buf, f.reply)
			continue
		}
		f.writes = append(f.writes, append([]byte{byte(m.addr)}, buf...))
	}
	return nil
}

func testBus(t *testing.T, f *fakeI2C) *I2C {
	t.Helper()
	file, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { file.Close() })
	return &I2C{f: file, path: "/dev/i2c-test", ioctl: f.ioctl}
}

func TestI2CTx(t *testing.T) {
	f := &fakeI2C{reply: []byte{0xAB, 0xCD}}
	b := testBus(t, f)
	if err := b.Tx(0x3c, []byte{0x00, 0xAE, 0xD5}, nil); err != nil {
		t.Fatal(err)
	}
	r := make([]byte, 2)
	if err := b.Tx(0x27, []byte{0x10}, r); err != nil {
		t.Fatal(err)
	}
	want := [][]byte{{0x3c, 0x00, 0xAE, 0xD5}, {0x27, 0x10}}
	if len(f.writes) != len(want) || !bytes.Equal(f.writes[0], want[0]) || !bytes.Equal(f.writes[1], want[1]) {
		t.Errorf("bus saw writes % x, want % x", f.writes, want)
	}
	if !bytes.Equal(r, []byte{0xAB, 0xCD}) {
		t.Errorf("read % x, want ab cd", r)
	}
	if err := b.Tx(0x80, []byte{1}, nil); err == nil || !strings.Contains(err.Error(), "not a 7-bit address") {
		t.Errorf("Tx to 0x80 = %v", err)
	}
	f.errno = syscall.EREMOTEIO
	if err := b.Tx(0x3c, []byte{1}, nil); !errors.Is(err, syscall.EREMOTEIO) || !strings.Contains(err.Error(), "/dev/i2c-test: transfer to 0x3c") {
		t.Errorf("Tx with nobody at the address = %v", err)
	}
}

func TestI2CPath(t *testing.T) {
	for name, want := range map[string]string{"1": "/dev/i2c-1", "/dev/i2c-20": "/dev/i2c-20"} {
		if got, err := i2cPath(name); err != nil || got != want {
			t.Errorf("i2cPath(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := i2cPath("one"); err == nil || !strings.Contains(err.Error(), `give its number ("1" for /dev/i2c-1)`) {
		t.Errorf("i2cPath(one) = %v", err)
	}
	dir := t.TempDir()
	old := i2cGlob
	t.Cleanup(func() { i2cGlob = old })
	i2cGlob = filepath.Join(dir, "i2c-*")
	if _, err := i2cPath(""); err == nil || !strings.Contains(err.Error(), "raspi-config") {
		t.Errorf("first bus with none = %v, want advice on enabling I2C", err)
	}
	for _, n := range []string{"i2c-3", "i2c-1"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o600)
	}
	if got, err := i2cPath(""); err != nil || got != filepath.Join(dir, "i2c-1") {
		t.Errorf("first bus = %q, %v", got, err)
	}
}

func TestOpenI2CErrors(t *testing.T) {
	_, err := OpenI2C(filepath.Join(t.TempDir(), "i2c-9"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "dtparam=i2c_arm=on") {
		t.Errorf("missing bus: %v", err)
	}
}

func TestI2COpenErrorPermission(t *testing.T) {
	err := i2cOpenError("/dev/i2c-1", &os.PathError{Op: "open", Path: "/dev/i2c-1", Err: syscall.EACCES})
	if !strings.Contains(err.Error(), "add the service user to the i2c group") {
		t.Errorf("permission error = %v", err)
	}
}
