package kiosk

import (
	"fmt"
	"strings"
	"time"

	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/roster"
)

// Screen returns what the kiosk shows in state s at time now.
func (s State) Screen(now time.Time) Screen {
	l := s.lang
	if l == "" {
		l = s.settings().Language
	}
	t := func(m Msg, args ...any) string { return T(l, m, args...) }
	loc := time.Local
	if s.Roster != nil {
		loc = s.Roster.Location()
	}
	now = now.In(loc)
	clock := func(at time.Time) string { return clockTime(l, at.In(loc)) }
	dir := func(d punch.Direction) string { return t(Msg("dir." + string(d))) }
	nick := s.settings().Nickname

	if s.Mode == Disabled && s.phase != phSaving && s.phase != phPreview && s.phase != phSaved && s.phase != phNotSaved {
		return Screen{Name: ScreenDisabled, Title: nick, Big: t("disabled.big"), Lines: []string{t("disabled.help")}, Icon: IconError, Status: s.statusLine(l, now)}
	}
	sc := Screen{Title: nick, Status: s.statusLine(l, now)}
	switch s.phase {
	case phIdle:
		sc.Name = ScreenIdle
		sc.Big = clock(now)
		sc.Lines = []string{longDate(l, now)}
		if s.Roster == nil {
			sc.Lines = append(sc.Lines, t("idle.no_roster"))
		} else {
			sc.Hints = []string{t("hint.enter_pin"), t("hint.clock_for"), t("hint.lang")}
		}
		switch u := s.Update; {
		case u.Ready:
			sc.Lines = append(sc.Lines, t("update.ready", u.Version))
		case u.Version != "":
			sc.Lines = append(sc.Lines, t("update.downloading", u.Version, u.Percent))
		}
		if !s.Net.Online {
			sc.Icon = IconOffline
		}
	case phUpdating:
		sc.Name = ScreenUpdating
		sc.Big = t("update.installing")
		sc.Lines = []string{t("update.back_soon", s.Update.Version)}
		sc.Icon = IconWait
	case phSetup:
		sc.Name = ScreenSetupCode
		sc.Title = t("setup.title")
		sc.Big = t("setup.prompt")
		sc.Lines = []string{s.entry, t("setup.help")}
		sc.Hints = []string{t("hint.ok"), t("hint.clear"), t("hint.lang")}
	case phEnrolling:
		sc.Name = ScreenEnrolling
		sc.Title = t("setup.title")
		sc.Big = t("setup.checking")
		sc.Icon = IconWait
	case phPIN:
		sc.Name = ScreenPIN
		title := map[intent]Msg{intentNone: "pin.title", intentIn: "pin.title_in", intentOut: "pin.title_out", intentClockFor: "pin.title_clock_for"}[s.intent]
		sc.Big = t(title)
		sc.Lines = []string{strings.Repeat("•", len(s.entry))}
		sc.Hints = []string{t("hint.ok"), t("hint.clear"), t("hint.in"), t("hint.out"), t("hint.clock_for"), t("hint.lang")}
	case phMessage:
		sc.Name = ScreenMessage
		if s.msgBig != "" {
			sc.Big = t(s.msgBig)
		}
		if s.msgLine != "" {
			if s.msgArg != "" {
				sc.Lines = []string{t(s.msgLine, s.msgArg)}
			} else {
				sc.Lines = []string{t(s.msgLine)}
			}
		}
		sc.Icon = s.msgIcon
	case phLocked:
		sc.Name = ScreenLocked
		left := s.LockedFor(now)
		secs := int((left + time.Second - 1) / time.Second)
		sc.Big = t("locked.title")
		sc.Lines = []string{fmt.Sprintf("%d:%02d", secs/60, secs%60), t("locked.help")}
		sc.Icon = IconLocked
	case phGreet:
		sc.Name = ScreenGreet
		sc.Title = t("greet.hello", s.emp.Name)
		sc.Big = s.statusOf(l, loc, now)
		first, second := "hint.in_default", "hint.out"
		if s.next() == punch.Out {
			first, second = "hint.out_default", "hint.in"
		}
		sc.Hints = []string{t(Msg(first)), t(Msg(second))}
		if s.Roster.RoleOf(s.emp).ClockFor {
			sc.Hints = append(sc.Hints, t("hint.clock_for"))
		}
		sc.Hints = append(sc.Hints, t("hint.back"), t("hint.lang"))
	case phConfirm:
		sc.Name = ScreenConfirm
		lp := s.Status[s.emp.ID]
		sc.Title = t("greet.hello", s.emp.Name)
		sc.Big = t("confirm.title", dir(s.action))
		sc.Lines = []string{t(Msg("confirm.again_"+string(s.action)), when(l, lp.At.In(loc), now))}
		sc.Hints = []string{t("hint.yes"), t("hint.no")}
	case phCountdown:
		sc.Name = ScreenCamera
		sc.Title = t("greet.hello", s.emp.Name)
		sc.Big = t("camera.look")
		left := s.at.Add(s.settings().PhotoCountdown).Sub(now)
		sc.Lines = []string{fmt.Sprint(int((left + time.Second - 1) / time.Second))}
		sc.Icon = IconCamera
	case phCapturing:
		sc.Name = ScreenCamera
		sc.Title = t("greet.hello", s.emp.Name)
		sc.Big = t("camera.look")
		sc.Lines = []string{t("camera.taking")}
		sc.Icon = IconCamera
	case phPreview:
		sc.Name = ScreenPreview
		sc.Title = t("greet.hello", s.emp.Name)
		sc.Big = t("saving")
		sc.Photo = s.photo
		sc.PhotoRotation = s.settings().PhotoRotation
		sc.Icon = IconWait
	case phSaving:
		sc.Name = ScreenSaving
		sc.Big = t("saving")
		sc.Icon = IconWait
	case phSaved:
		sc.Name = ScreenSaved
		sc.Icon = IconSaved
		if s.noPhoto == punch.ClockFor {
			sc.Big = t("saved.crew_big", len(s.saved), dir(s.action), clock(s.at))
			for _, p := range s.saved {
				sc.Lines = append(sc.Lines, p.EmployeeName)
			}
			sc.Lines = append(sc.Lines, t("crew.by", s.emp.Name))
		} else {
			sc.Title = s.emp.Name
			sc.Big = t("saved.big", dir(s.action), clock(s.at))
			sc.Lines = []string{t("saved.mark")}
			if line := noPhotoLine(s.noPhoto); line != "" {
				sc.Lines = append(sc.Lines, t(line))
			} else if s.noPhoto == punch.PhotoTaken {
				sc.Lines = append(sc.Lines, t("saved.photo"))
			}
		}
	case phNotSaved:
		sc.Name = ScreenNotSaved
		sc.Big = t("notsaved.big")
		sc.Icon = IconError
		if s.diskFull {
			sc.Lines = []string{t("notsaved.full")}
		} else {
			sc.Lines = []string{t("notsaved.error")}
		}
		sc.Hints = []string{t("hint.retry"), t("hint.cancel")}
	case phCrew:
		sc.Name = ScreenCrew
		sc.Title = t("crew.title")
		sc.Big = s.entry
		if sc.Big == "" {
			sc.Big = t("crew.prompt")
		}
		sc.Lines = append(sc.Lines, t("crew.count", len(s.crew)))
		sc.Lines = append(sc.Lines, s.crewNames(l, loc, now, 4)...)
		if s.crewNote != "" {
			note := t(s.crewNote, s.crewArg)
			switch s.crewNote {
			case "crew.full":
				note = t(s.crewNote, MaxCrew)
			case "crew.self", "crew.empty":
				note = t(s.crewNote)
			}
			sc.Lines = append(sc.Lines, note)
			if s.crewNote != "crew.added" {
				sc.Icon = IconError
			}
		}
		sc.Hints = []string{t("hint.add"), t("hint.in"), t("hint.out"), t("hint.back")}
	case phCrewConfirm:
		sc.Name = ScreenCrewConfirm
		sc.Title = t("greet.hello", s.emp.Name)
		sc.Big = t("crew.confirm_title", dir(s.action), len(s.crew))
		sc.Lines = s.crewNames(l, loc, now, 8)
		sc.Hints = []string{t("hint.confirm"), t("hint.back")}
	}
	return sc
}

// crewNames lists the crew, newest last, marking anyone the chosen action
// would not change; at most max lines.
func (s State) crewNames(l roster.Lang, loc *time.Location, now time.Time, max int) []string {
	var out []string
	start := 0
	if len(s.crew) > max {
		start = len(s.crew) - max + 1
		out = append(out, T(l, "crew.more", start))
	}
	for _, e := range s.crew[start:] {
		name := e.Name
		if lp, ok := s.Status[e.ID]; ok && s.phase == phCrewConfirm && lp.Direction == s.action {
			name = T(l, "crew.already", e.Name, T(l, Msg("dir."+string(lp.Direction))))
		}
		out = append(out, name)
	}
	return out
}

func noPhotoLine(r punch.NoPhoto) Msg {
	switch r {
	case punch.NoCamera:
		return "nophoto.camera"
	case punch.CameraPermission:
		return "nophoto.permission"
	case punch.CameraError:
		return "nophoto.error"
	}
	return "" // role without FaceFront, no consent: nothing to explain at the kiosk
}

// statusOf is the greeting's "IN since 7:02 AM".
func (s State) statusOf(l roster.Lang, loc *time.Location, now time.Time) string {
	lp, ok := s.Status[s.emp.ID]
	if !ok {
		return T(l, "greet.no_punches")
	}
	return T(l, Msg("greet."+string(lp.Direction)+"_since"), when(l, lp.At.In(loc), now))
}

func (s State) statusLine(l roster.Lang, now time.Time) string {
	parts := []string{T(l, "status.offline")}
	if s.Net.Online {
		parts[0] = T(l, "status.online")
	}
	parts = append(parts, T(l, "status.waiting", s.Net.Waiting))
	if s.Net.LastSync.IsZero() {
		parts = append(parts, T(l, "status.never_synced"))
	} else {
		parts = append(parts, T(l, "status.last_sync", when(l, s.Net.LastSync.In(now.Location()), now)))
	}
	switch s.Camera {
	case punch.NoCamera:
		parts = append(parts, T(l, "status.camera", T(l, "camera.none")))
	case punch.CameraPermission:
		parts = append(parts, T(l, "status.camera", T(l, "camera.permission")))
	case punch.CameraError:
		parts = append(parts, T(l, "status.camera", T(l, "camera.error")))
	}
	return strings.Join(parts, " · ")
}
