package backoffice

import (
	"errors"
	"net/http"
	"strings"

	"github.com/siteclock/siteclock/roster"
)

// The Employees and Security roles pages.

type employeeRow struct {
	Employee
	RoleName string
	LangName string
}

var langNames = map[roster.Lang]string{"": "kiosk default", roster.English: "English", roster.Spanish: "Spanish"}

func (o *Office) employeesPage(w http.ResponseWriter, r *http.Request, sess adminSession) {
	es, err := o.store.Employees()
	if err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	roles, err := o.store.Roles()
	if err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	names := map[string]string{}
	for _, ro := range roles {
		names[ro.ID] = ro.Name
	}
	rows := make([]employeeRow, len(es))
	for i, e := range es {
		rows[i] = employeeRow{Employee: e, RoleName: names[e.RoleID], LangName: langNames[e.Language]}
	}
	o.show(w, r, sess, http.StatusOK, "employees", "employees", "Employees", rows)
}

type option struct {
	Value, Label string
	Selected     bool
}

type employeeView struct {
	New       bool
	Employee  Employee
	Roles     []option
	Languages []option
	Errors    map[string]string // by field
	Error     string            // not about one field
}

func (o *Office) employeeView(e Employee, isNew bool) (employeeView, error) {
	roles, err := o.store.Roles()
	if err != nil {
		return employeeView{}, err
	}
	v := employeeView{New: isNew, Employee: e, Errors: map[string]string{}}
	for _, ro := range roles {
		v.Roles = append(v.Roles, option{Value: ro.ID, Label: ro.Name, Selected: ro.ID == e.RoleID})
	}
	for _, l := range []roster.Lang{"", roster.English, roster.Spanish} {
		v.Languages = append(v.Languages, option{Value: string(l), Label: langNames[l], Selected: l == e.Language})
	}
	return v, nil
}

func (o *Office) employeePage(w http.ResponseWriter, r *http.Request, sess adminSession) {
	id := r.PathValue("id")
	e := Employee{Active: true, RoleID: "worker"}
	if id != "" {
		var err error
		if e, err = o.store.Employee(id); err != nil {
			o.failPage(w, r, sess, err)
			return
		}
	}
	v, err := o.employeeView(e, id == "")
	if err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	title := "Add an employee"
	if id != "" {
		title = e.Name
	}
	o.show(w, r, sess, http.StatusOK, "employee", "employees", title, v)
}

func formBool(r *http.Request, name string) bool {
	switch r.PostForm.Get(name) {
	case "on", "1", "true", "yes":
		return true
	}
	return false
}

func (o *Office) employeeForm(w http.ResponseWriter, r *http.Request, sess adminSession) {
	id := r.PathValue("id")
	in := employeeInput{
		Employee: Employee{
			ID: id, Number: strings.TrimSpace(r.PostForm.Get("number")), Name: strings.TrimSpace(r.PostForm.Get("name")),
			RoleID: r.PostForm.Get("role_id"), Active: formBool(r, "active"), PhotoConsent: formBool(r, "photo_consent"),
			Language: roster.Lang(r.PostForm.Get("language")),
		},
		PIN: strings.TrimSpace(r.PostForm.Get("pin")),
	}
	e, err := o.saveEmployee(id, in)
	if err == nil {
		msg := "Added " + e.Name + "."
		if id != "" {
			msg = "Saved " + e.Name + "."
		}
		o.log.Info("employee saved by an admin", "employee_id", e.ID, "admin", sess.Admin.Username, "new", id == "")
		o.done(w, r, "/employees", msg)
		return
	}
	v, verr := o.employeeView(in.Employee, id == "")
	if verr != nil {
		o.failPage(w, r, sess, verr)
		return
	}
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		v.Errors[fe.Field] = fe.Msg
	case errors.Is(err, ErrInvalid):
		v.Error = strings.TrimPrefix(err.Error(), "backoffice: ")
	default:
		o.failPage(w, r, sess, err)
		return
	}
	title := "Add an employee"
	if id != "" {
		title = in.Name
	}
	o.show(w, r, sess, http.StatusBadRequest, "employee", "employees", title, v)
}

type rolesView struct {
	Roles  []roleRow
	Name   string
	FF, CF bool
	Errors map[string]string
}

type roleRow struct {
	roster.Role
	Employees int
}

func (o *Office) rolesView() (rolesView, error) {
	roles, err := o.store.Roles()
	if err != nil {
		return rolesView{}, err
	}
	es, err := o.store.Employees()
	if err != nil {
		return rolesView{}, err
	}
	n := map[string]int{}
	for _, e := range es {
		if e.Active {
			n[e.RoleID]++
		}
	}
	v := rolesView{Errors: map[string]string{}, FF: true}
	for _, ro := range roles {
		v.Roles = append(v.Roles, roleRow{Role: ro, Employees: n[ro.ID]})
	}
	return v, nil
}

func (o *Office) rolesPage(w http.ResponseWriter, r *http.Request, sess adminSession) {
	v, err := o.rolesView()
	if err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	o.show(w, r, sess, http.StatusOK, "roles", "roles", "Security roles", v)
}

func (o *Office) addRoleForm(w http.ResponseWriter, r *http.Request, sess adminSession) {
	in := roster.Role{Name: strings.TrimSpace(r.PostForm.Get("name")), FaceFront: formBool(r, "face_front"), ClockFor: formBool(r, "clock_for")}
	ro, err := o.createRole(in)
	if err == nil {
		o.log.Info("role added by an admin", "role", ro.ID, "admin", sess.Admin.Username)
		o.done(w, r, "/roles", "Added the role "+ro.Name+".")
		return
	}
	v, verr := o.rolesView()
	if verr != nil {
		o.failPage(w, r, sess, verr)
		return
	}
	v.Name, v.FF, v.CF = in.Name, in.FaceFront, in.ClockFor
	var fe *fieldError
	if !errors.As(err, &fe) {
		o.failPage(w, r, sess, err)
		return
	}
	v.Errors[fe.Field] = fe.Msg
	o.show(w, r, sess, http.StatusBadRequest, "roles", "roles", "Security roles", v)
}

// roleFlagForm turns one flag of a role on or off. The form says which
// state it wants, not "toggle", so that sending it twice changes nothing.
func (o *Office) roleFlagForm(w http.ResponseWriter, r *http.Request, sess adminSession) {
	on := formBool(r, "on")
	var u RoleUpdate
	var what string
	switch r.PostForm.Get("flag") {
	case "face_front":
		u.FaceFront, what = &on, "FaceFront"
	case "clock_for":
		u.ClockFor, what = &on, "Clock For"
	default:
		o.renderError(w, r, &sess, http.StatusBadRequest, "The form did not say which setting to change. Reload the page and try again.")
		return
	}
	ro, err := o.store.UpdateRole(r.PathValue("id"), u)
	if err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	state := "off"
	if on {
		state = "on"
	}
	o.log.Info("role flag set by an admin", "role", ro.ID, "flag", r.PostForm.Get("flag"), "on", on, "admin", sess.Admin.Username)
	o.done(w, r, "/roles", what+" is "+state+" for "+ro.Name+". Kiosks get the change at their next sync.")
}
