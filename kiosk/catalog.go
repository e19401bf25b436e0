package kiosk

import (
	"fmt"
	"time"

	"github.com/siteclock/siteclock/roster"
)

// Msg identifies a text of the message catalog. Every text on a kiosk screen
// comes from the catalog, in every language of roster.Langs.
type Msg string

// The catalog: a format string (fmt verbs) per language. A test checks that
// every message exists in every language with the same verbs.
var catalog = map[Msg]map[roster.Lang]string{
	"hint.enter_pin":       {"en": "Enter your PIN", "es": "Ingrese su PIN"},
	"hint.ok":              {"en": "# OK", "es": "# OK"},
	"hint.back":            {"en": "* Back", "es": "* Atrás"},
	"hint.clear":           {"en": "* Clear", "es": "* Borrar"},
	"hint.in":              {"en": "i IN", "es": "i ENTRADA"},
	"hint.out":             {"en": "o OUT", "es": "o SALIDA"},
	"hint.in_default":      {"en": "# IN", "es": "# ENTRADA"},
	"hint.out_default":     {"en": "# OUT", "es": "# SALIDA"},
	"hint.clock_for":       {"en": "f Clock For", "es": "f Marcar por otros"},
	"hint.lang":            {"en": "l Español", "es": "l English"},
	"hint.yes":             {"en": "# Yes", "es": "# Sí"},
	"hint.no":              {"en": "* No", "es": "* No"},
	"hint.add":             {"en": "# Add", "es": "# Agregar"},
	"hint.confirm":         {"en": "# Confirm", "es": "# Confirmar"},
	"hint.retry":           {"en": "# Try again", "es": "# Reintentar"},
	"hint.cancel":          {"en": "* Cancel", "es": "* Cancelar"},
	"dir.in":               {"en": "IN", "es": "ENTRADA"},
	"dir.out":              {"en": "OUT", "es": "SALIDA"},
	"status.online":        {"en": "Online", "es": "En línea"},
	"status.offline":       {"en": "Offline", "es": "Sin conexión"},
	"status.waiting":       {"en": "%d waiting", "es": "%d por enviar"},
	"status.last_sync":     {"en": "last sync %s", "es": "últ. envío %s"},
	"status.never_synced":  {"en": "never synced", "es": "nunca enviado"},
	"status.camera":        {"en": "camera: %s", "es": "cámara: %s"},
	"camera.none":          {"en": "none", "es": "no hay"},
	"camera.permission":    {"en": "permission denied", "es": "sin permiso"},
	"camera.error":         {"en": "error", "es": "falla"},
	"idle.no_roster":       {"en": "Waiting for the employee list from the office", "es": "Esperando la lista de empleados de la oficina"},
	"setup.title":          {"en": "New kiosk", "es": "Reloj nuevo"},
	"setup.prompt":         {"en": "Enter setup code", "es": "Ingrese el código de instalación"},
	"setup.help":           {"en": "Your office finds the code on its Devices page.", "es": "Su oficina tiene el código en la página de Dispositivos."},
	"setup.checking":       {"en": "Checking setup code…", "es": "Verificando el código…"},
	"setup.too_short":      {"en": "A setup code has at least 4 digits.", "es": "El código tiene al menos 4 dígitos."},
	"enroll.wrong_code":    {"en": "Setup code not accepted. Check it with your office.", "es": "Código no aceptado. Verifíquelo con su oficina."},
	"enroll.expired":       {"en": "That setup code has expired. Ask your office for the current one.", "es": "El código ha vencido. Pida el código actual a su oficina."},
	"enroll.rate_limited":  {"en": "Too many tries. Wait a few minutes and try again.", "es": "Demasiados intentos. Espere unos minutos."},
	"enroll.unreachable":   {"en": "Cannot reach the office. Check the network and try again.", "es": "No hay conexión con la oficina. Revise la red e intente de nuevo."},
	"enroll.disabled":      {"en": "The office disabled this kiosk. Ask your office to approve it again.", "es": "La oficina desactivó este reloj. Pida a su oficina que lo apruebe de nuevo."},
	"enroll.no_server":     {"en": "No office server is configured on this kiosk. Import an employee list instead.", "es": "Este reloj no tiene servidor configurado. Importe una lista de empleados."},
	"disabled.big":         {"en": "This device is disabled", "es": "Este dispositivo está desactivado"},
	"update.downloading":   {"en": "Downloading update %s: %d%%", "es": "Descargando actualización %s: %d%%"},
	"update.ready":         {"en": "Update %s installs when the kiosk is free", "es": "La actualización %s se instala cuando el reloj esté libre"},
	"update.installing":    {"en": "Updating…", "es": "Actualizando…"},
	"update.back_soon":     {"en": "Installing version %s. Back in a minute.", "es": "Instalando la versión %s. Vuelve en un minuto."},
	"disabled.help":        {"en": "Contact your office.", "es": "Comuníquese con su oficina."},
	"pin.title":            {"en": "Enter your PIN", "es": "Ingrese su PIN"},
	"pin.title_in":         {"en": "Clock IN: enter your PIN", "es": "ENTRADA: ingrese su PIN"},
	"pin.title_out":        {"en": "Clock OUT: enter your PIN", "es": "SALIDA: ingrese su PIN"},
	"pin.title_clock_for":  {"en": "Clock For: enter your PIN", "es": "Marcar por otros: ingrese su PIN"},
	"pin.unknown":          {"en": "PIN not recognized", "es": "PIN no reconocido"},
	"pin.try_again":        {"en": "Try again.", "es": "Intente de nuevo."},
	"badge.unknown":        {"en": "Badge not recognized", "es": "Tarjeta no reconocida"},
	"badge.help":           {"en": "Use your PIN, or ask your office to register the badge.", "es": "Use su PIN, o pida a su oficina que registre la tarjeta."},
	"pin.not_ready":        {"en": "No employee list on this kiosk yet", "es": "Aún no hay lista de empleados"},
	"pin.not_ready_help":   {"en": "Ask your office to send it, or import one.", "es": "Pida a su oficina que la envíe."},
	"locked.title":         {"en": "Keypad locked", "es": "Teclado bloqueado"},
	"locked.help":          {"en": "Too many wrong PINs. Try again when the time runs out.", "es": "Demasiados PIN incorrectos. Espere a que termine el tiempo."},
	"greet.hello":          {"en": "Hello, %s", "es": "Hola, %s"},
	"greet.in_since":       {"en": "IN since %s", "es": "ENTRADA desde %s"},
	"greet.out_since":      {"en": "OUT since %s", "es": "SALIDA desde %s"},
	"greet.no_punches":     {"en": "No punches yet", "es": "Sin marcas todavía"},
	"confirm.title":        {"en": "Already %s", "es": "Ya marcó %s"},
	"confirm.again_in":     {"en": "You are IN since %s. Punch IN again?", "es": "Tiene ENTRADA desde %s. ¿Marcar ENTRADA otra vez?"},
	"confirm.again_out":    {"en": "You are OUT since %s. Punch OUT again?", "es": "Tiene SALIDA desde %s. ¿Marcar SALIDA otra vez?"},
	"camera.look":          {"en": "Look at the camera", "es": "Mire a la cámara"},
	"camera.taking":        {"en": "Taking photo…", "es": "Tomando foto…"},
	"saving":               {"en": "Saving…", "es": "Guardando…"},
	"saved.big":            {"en": "Clocked %s %s", "es": "%s %s"},
	"saved.crew_big":       {"en": "%d clocked %s %s", "es": "%d con %s %s"},
	"saved.mark":           {"en": "Saved", "es": "Guardado"},
	"saved.photo":          {"en": "Photo saved", "es": "Foto guardada"},
	"nophoto.camera":       {"en": "No photo: camera not available", "es": "Sin foto: cámara no disponible"},
	"nophoto.error":        {"en": "No photo: the camera failed", "es": "Sin foto: falló la cámara"},
	"nophoto.permission":   {"en": "No photo: camera access denied", "es": "Sin foto: cámara sin permiso"},
	"notsaved.big":         {"en": "Punch NOT saved", "es": "Marca NO guardada"},
	"notsaved.full":        {"en": "The kiosk's storage is full. Write down your time and tell your office.", "es": "La memoria del reloj está llena. Anote su hora y avise a su oficina."},
	"notsaved.error":       {"en": "The kiosk could not save it. Try again; if it fails again, write down your time and tell your office.", "es": "El reloj no pudo guardarla. Intente de nuevo; si falla, anote su hora y avise a su oficina."},
	"notallowed.big":       {"en": "Not allowed", "es": "No permitido"},
	"notallowed.clock_for": {"en": "Your role cannot Clock For others.", "es": "Su puesto no permite marcar por otros."},
	"crew.title":           {"en": "Clock For: add crew", "es": "Marcar por otros: agregar"},
	"crew.prompt":          {"en": "Employee number", "es": "Número de empleado"},
	"crew.count":           {"en": "Crew: %d", "es": "Equipo: %d"},
	"crew.added":           {"en": "+ %s", "es": "+ %s"},
	"crew.more":            {"en": "… and %d more", "es": "… y %d más"},
	"crew.unknown":         {"en": "No employee number %s", "es": "No existe el número %s"},
	"crew.duplicate":       {"en": "%s is already in the crew", "es": "%s ya está en el equipo"},
	"crew.self":            {"en": "That is you: punch for yourself with your own PIN", "es": "Es usted: marque con su propio PIN"},
	"crew.empty":           {"en": "Add at least one crew member first", "es": "Agregue al menos una persona"},
	"crew.full":            {"en": "A crew has at most %d people", "es": "Máximo %d personas por equipo"},
	"crew.confirm_title":   {"en": "Clock %s %d people?", "es": "¿Marcar %s a %d personas?"},
	"crew.already":         {"en": "%s (already %s)", "es": "%s (ya %s)"},
	"crew.by":              {"en": "Recorded by %s", "es": "Registrado por %s"},
}

// T returns message m in language l, formatted with args. A message missing
// from the catalog shows its ID, which a test prevents.
func T(l roster.Lang, m Msg, args ...any) string {
	f, ok := catalog[m][l]
	if !ok {
		f, ok = catalog[m][roster.English]
		if !ok {
			return string(m)
		}
	}
	if len(args) == 0 {
		return f
	}
	return fmt.Sprintf(f, args...)
}

var (
	monthsES   = [...]string{"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"}
	weekdaysES = [...]string{"domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"}
)

// clockTime formats a time of day the way the kiosk's language writes it.
func clockTime(l roster.Lang, t time.Time) string {
	if l == roster.Spanish {
		if t.Hour() < 12 {
			return t.Format("3:04") + " a. m."
		}
		return t.Format("3:04") + " p. m."
	}
	return t.Format("3:04 PM")
}

// longDate formats the date shown on the idle screen.
func longDate(l roster.Lang, t time.Time) string {
	if l == roster.Spanish {
		return fmt.Sprintf("%s, %d de %s", weekdaysES[t.Weekday()], t.Day(), monthsES[t.Month()-1])
	}
	return t.Format("Monday, January 2")
}

// when formats a past moment compactly: the time alone if it was today,
// with the date otherwise.
func when(l roster.Lang, t, now time.Time) string {
	y1, m1, d1 := t.Date()
	y2, m2, d2 := now.Date()
	if y1 == y2 && m1 == m2 && d1 == d2 {
		return clockTime(l, t)
	}
	if l == roster.Spanish {
		return fmt.Sprintf("%d/%d %s", t.Day(), int(t.Month()), clockTime(l, t))
	}
	return t.Format("Jan 2") + " " + clockTime(l, t)
}
