//go:build !linux

package device

import (
	"errors"

	"periph.io/x/conn/v3/physic"
)

// I2C is an I2C bus; only Linux has them here.
type I2C struct{}

// OpenI2C fails: I2C buses are opened through Linux's i2c-dev.
func OpenI2C(name string) (*I2C, error) {
	return nil, errors.New("device: I2C displays need Linux (/dev/i2c-N)")
}

func (b *I2C) Tx(addr uint16, w, r []byte) error { return errors.New("device: no I2C bus") }
func (b *I2C) SetSpeed(physic.Frequency) error   { return errors.New("device: no I2C bus") }
func (b *I2C) String() string                    { return "none" }
func (b *I2C) Close() error                      { return nil }
