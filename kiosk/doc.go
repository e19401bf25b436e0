// Package kiosk is the kiosk's behaviour as a pure state machine: Step takes
// the state, an event (a key, a tick of time, the result of a photo or a
// commit) and the time, and returns the next state and the effects to carry
// out (take a photo, commit punches). It reads no clock, touches no hardware
// and does no I/O, so every user story is a table test.
package kiosk
