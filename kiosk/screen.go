package kiosk

// Screen is what the kiosk shows, already in the session's language. It is
// layout-neutral: a text display prints its fields in order, a graphic one
// gives Big the large font and draws Icon and Photo.
type Screen struct {
	Name  string   // stable identifier: "idle", "pin", "greet", ... (see the Screen* constants)
	Title string   // top line: the device nickname or a greeting
	Big   string   // the large text: the time, masked PIN, countdown, "Clocked IN 7:02 AM"
	Lines []string // body text
	Icon  Icon
	Photo []byte // JPEG to show (the FaceFront preview); nil for none
	// PhotoRotation turns Photo clockwise by 0, 90, 180 or 270 degrees
	// when it is shown (the photo-rotation setting: photos are stored as
	// the camera took them).
	PhotoRotation int
	Hints         []string // what the keys do here: "# OK", "* Back"
	Status        string   // bottom status line: online/offline, waiting, last sync
}

// Icon is a symbol a graphic display draws beside Big.
type Icon string

const (
	IconNone    Icon = ""
	IconSaved   Icon = "saved"
	IconError   Icon = "error"
	IconOffline Icon = "offline"
	IconLocked  Icon = "locked"
	IconCamera  Icon = "camera"
	IconWait    Icon = "wait"
)

// Screen names.
const (
	ScreenIdle        = "idle"
	ScreenSetupCode   = "setup-code"
	ScreenEnrolling   = "enrolling"
	ScreenDisabled    = "disabled"
	ScreenPIN         = "pin"
	ScreenMessage     = "message"
	ScreenLocked      = "locked"
	ScreenGreet       = "greet"
	ScreenConfirm     = "confirm"
	ScreenCamera      = "camera"
	ScreenPreview     = "preview"
	ScreenSaving      = "saving"
	ScreenSaved       = "saved"
	ScreenNotSaved    = "not-saved"
	ScreenCrew        = "crew"
	ScreenCrewConfirm = "crew-confirm"
	ScreenNoRoster    = "no-roster"
	ScreenUpdating    = "updating"
)

// Equal reports whether two screens show the same thing.
func (s Screen) Equal(o Screen) bool {
	if s.Name != o.Name || s.Title != o.Title || s.Big != o.Big || s.Icon != o.Icon || s.Status != o.Status || s.PhotoRotation != o.PhotoRotation ||
		len(s.Lines) != len(o.Lines) || len(s.Hints) != len(o.Hints) || len(s.Photo) != len(o.Photo) {
		return false
	}
	for i := range s.Lines {
		if s.Lines[i] != o.Lines[i] {
			return false
		}
	}
	for i := range s.Hints {
		if s.Hints[i] != o.Hints[i] {
			return false
		}
	}
	for i := range s.Photo {
		if s.Photo[i] != o.Photo[i] {
			return false
		}
	}
	return true
}
