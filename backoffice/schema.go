package backoffice

// migrations are the schema steps in order; PRAGMA user_version counts how
// many a database has had. Append new steps, never edit a released one.
//
// Times are Unix nanoseconds (INTEGER, NULL when unset); a punch's wall time
// keeps its zone offset beside it so that it round-trips exactly. Durations
// are nanoseconds. Secrets are never stored: PINs as roster.HashPIN with the
// company's salt, device tokens as their SHA-256.
var migrations = []string{
	// 1: company, setup codes, roles, employees, settings, devices, punches,
	// photos.
	`
CREATE TABLE company (
	id                   INTEGER PRIMARY KEY CHECK (id = 1), -- one company per server
	name                 TEXT    NOT NULL CHECK (name <> ''),
	kdf_salt             BLOB    NOT NULL CHECK (length(kdf_salt) >= 16),
	kdf_iterations       INTEGER NOT NULL CHECK (kdf_iterations >= 1000),
	roster_version       INTEGER NOT NULL CHECK (roster_version >= 1),
	sync_every_ns        INTEGER NOT NULL CHECK (sync_every_ns > 0),
	photo_retention_days INTEGER NOT NULL CHECK (photo_retention_days >= 0), -- 0: keep
	setup_code_period_ns INTEGER NOT NULL CHECK (setup_code_period_ns > 0),
	created_at_ns        INTEGER NOT NULL
);

-- The current setup code has retired_at_ns NULL; a few retired ones are
-- kept so that a kiosk typing an old code hears "expired", not "wrong".
CREATE TABLE setup_codes (
	code          TEXT    PRIMARY KEY CHECK (length(code) = 8),
	created_at_ns INTEGER NOT NULL,
	retired_at_ns INTEGER
);
CREATE UNIQUE INDEX setup_codes_one_current ON setup_codes ((retired_at_ns IS NULL)) WHERE retired_at_ns IS NULL;

CREATE TABLE roles (
	id         TEXT    PRIMARY KEY CHECK (id <> ''),
	name       TEXT    NOT NULL CHECK (name <> ''),
	face_front INTEGER NOT NULL CHECK (face_front IN (0, 1)),
	clock_for  INTEGER NOT NULL CHECK (clock_for IN (0, 1))
);

CREATE TABLE employees (
	id            TEXT    PRIMARY KEY CHECK (id <> ''),
	number        TEXT    NOT NULL UNIQUE CHECK (number <> ''),
	name          TEXT    NOT NULL CHECK (name <> ''),
	role_id       TEXT    NOT NULL REFERENCES roles (id),
	active        INTEGER NOT NULL CHECK (active IN (0, 1)),
	photo_consent INTEGER NOT NULL CHECK (photo_consent IN (0, 1)),
	language      TEXT    NOT NULL CHECK (language IN ('', 'en', 'es')),
	pin_hash      BLOB    NOT NULL CHECK (length(pin_hash) = 32)
);
-- PINs are unique among active employees, as the kiosk's roster requires.
CREATE UNIQUE INDEX employees_active_pin ON employees (pin_hash) WHERE active = 1;

-- The device settings every kiosk gets with the roster.
CREATE TABLE settings (
	id                 INTEGER PRIMARY KEY CHECK (id = 1),
	nickname           TEXT    NOT NULL,
	timezone           TEXT    NOT NULL,
	language           TEXT    NOT NULL CHECK (language IN ('en', 'es')),
	photo_rotation     INTEGER NOT NULL CHECK (photo_rotation IN (0, 90, 180, 270)),
	screen_timeout_ns  INTEGER NOT NULL CHECK (screen_timeout_ns > 0),
	saved_screen_ns    INTEGER NOT NULL CHECK (saved_screen_ns > 0),
	photo_countdown_ns INTEGER NOT NULL CHECK (photo_countdown_ns > 0),
	photo_preview_ns   INTEGER NOT NULL CHECK (photo_preview_ns > 0),
	message_screen_ns  INTEGER NOT NULL CHECK (message_screen_ns > 0)
);

CREATE TABLE devices (
	id                TEXT    PRIMARY KEY CHECK (id <> ''),
	installation_id   TEXT    NOT NULL UNIQUE CHECK (installation_id <> ''),
	nickname          TEXT    NOT NULL,
	hardware          TEXT    NOT NULL,
	version           TEXT    NOT NULL,
	public_key        BLOB    NOT NULL CHECK (length(public_key) = 32),
	token_sha256      BLOB    NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
	enrolled_at_ns    INTEGER NOT NULL,
	token_at_ns       INTEGER NOT NULL, -- when the current token was issued
	last_checkin_ns   INTEGER,
	roster_version    TEXT    NOT NULL DEFAULT '', -- the roster the kiosk said it holds
	waiting           INTEGER NOT NULL DEFAULT 0,
	oldest_waiting_ns INTEGER,
	camera            TEXT    NOT NULL DEFAULT '',
	last_used_by      TEXT    NOT NULL DEFAULT '', -- employee ID of the newest punch received
	last_used_seq     INTEGER,                     -- that punch's device sequence number
	disabled_at_ns    INTEGER,
	disabled_by       TEXT    NOT NULL DEFAULT '',
	goodbye_at_ns     INTEGER,
	CHECK (goodbye_at_ns IS NULL OR disabled_at_ns IS NOT NULL)
);

-- The latest pairing of the server's clock with a device's boot clock, per
-- boot: the raw material for checking punch times against the server's.
CREATE TABLE clock_anchors (
	device_id      TEXT    NOT NULL REFERENCES devices (id),
	boot_id        TEXT    NOT NULL,
	server_time_ns INTEGER NOT NULL,
	device_time_ns INTEGER,          -- the device's wall clock at the same moment
	boot_time_ns   INTEGER NOT NULL, -- the device's CLOCK_BOOTTIME at the same moment
	first_seen_ns  INTEGER NOT NULL,
	PRIMARY KEY (device_id, boot_id)
) WITHOUT ROWID;

CREATE TABLE punches (
	id              TEXT    PRIMARY KEY CHECK (length(id) = 36), -- the kiosk's UUID
	device_id       TEXT    NOT NULL REFERENCES devices (id),
	seq             INTEGER NOT NULL,
	employee_id     TEXT    NOT NULL REFERENCES employees (id),
	employee_number TEXT    NOT NULL, -- as the kiosk sent it
	direction       TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
	at_ns           INTEGER NOT NULL,
	at_offset       INTEGER NOT NULL, -- seconds east of UTC in the device's zone at the punch
	boot_time_ns    INTEGER NOT NULL,
	boot_id         TEXT    NOT NULL,
	clocked_by      TEXT    NOT NULL, -- employee ID of the foreman for Clock For, '' otherwise
	photo_sha256    TEXT    NOT NULL, -- hex; '' when no photo was taken
	no_photo        TEXT    NOT NULL, -- why not
	received_at_ns  INTEGER NOT NULL,
	CHECK (photo_sha256 = '' OR no_photo = '')
) WITHOUT ROWID;
CREATE INDEX punches_employee_at ON punches (employee_id, at_ns);
CREATE INDEX punches_photo ON punches (photo_sha256) WHERE photo_sha256 <> '';

-- Punches refused for good, kept for a person to look at. A punch that is
-- accepted later (say, once its employee exists) leaves this table.
CREATE TABLE rejected_punches (
	id             INTEGER PRIMARY KEY,
	device_id      TEXT    NOT NULL REFERENCES devices (id),
	punch_id       TEXT    NOT NULL, -- as sent; may be empty or malformed
	reason         TEXT    NOT NULL,
	punch_json     TEXT    NOT NULL,
	first_at_ns    INTEGER NOT NULL,
	last_at_ns     INTEGER NOT NULL,
	times          INTEGER NOT NULL
);
CREATE UNIQUE INDEX rejected_punches_id ON rejected_punches (device_id, punch_id) WHERE punch_id <> '';

-- Photos are files photos/<sha256>.jpg; a row exists once the file is
-- durable. punch_id is the punch the uploader named; the punch row names
-- its photo by hash, so either may arrive first.
CREATE TABLE photos (
	sha256         TEXT    PRIMARY KEY CHECK (length(sha256) = 64),
	punch_id       TEXT    NOT NULL,
	device_id      TEXT    NOT NULL REFERENCES devices (id),
	size           INTEGER NOT NULL,
	received_at_ns INTEGER NOT NULL,
	deleted_at_ns  INTEGER -- removed under the photo retention rule
) WITHOUT ROWID;
CREATE INDEX photos_retention ON photos (received_at_ns) WHERE deleted_at_ns IS NULL;
`,
	// 2: the admin side: admins who sign in with a password, their
	// sessions and API tokens (both kept only as SHA-256), and a record of
	// the photo retention purges.
	`
CREATE TABLE admins (
	id             INTEGER PRIMARY KEY,
	username       TEXT    NOT NULL UNIQUE COLLATE NOCASE CHECK (username <> ''),
	password_hash  TEXT    NOT NULL CHECK (password_hash <> ''), -- bcrypt
	created_at_ns  INTEGER NOT NULL,
	disabled_at_ns INTEGER
);

-- A session is its random ID's SHA-256; the cookie holds the ID.
CREATE TABLE admin_sessions (
	id_sha256     BLOB    PRIMARY KEY CHECK (length(id_sha256) = 32),
	admin_id      INTEGER NOT NULL REFERENCES admins (id),
	csrf_token    TEXT    NOT NULL CHECK (csrf_token <> ''),
	created_at_ns INTEGER NOT NULL,
	seen_at_ns    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id);

CREATE TABLE admin_tokens (
	id            TEXT    PRIMARY KEY CHECK (id <> ''), -- public: shown in lists, used to revoke
	name          TEXT    NOT NULL CHECK (name <> ''),
	token_sha256  BLOB    NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
	admin_id      INTEGER NOT NULL REFERENCES admins (id),
	created_at_ns INTEGER NOT NULL,
	last_used_ns  INTEGER,
	revoked_at_ns INTEGER
);

-- Runs of the photo retention rule: the latest run, and every run that
-- deleted photos (a photo's deleted_at_ns equals its run's at_ns).
CREATE TABLE photo_purges (
	id             INTEGER PRIMARY KEY,
	at_ns          INTEGER NOT NULL,
	deleted        INTEGER NOT NULL CHECK (deleted >= 0),
	retention_days INTEGER NOT NULL CHECK (retention_days >= 0)
);
CREATE INDEX photo_purges_at ON photo_purges (at_ns);
`,
	// 3: who could Clock For under which roster version, and the roster
	// version each punch was made under. A kiosk judges a
	// foreman by the roster it holds, and its punches may arrive days
	// later: the office judges them by the same roster, not by today's
	// roles. A grant covers versions from_version up to, not including,
	// to_version (NULL: still granted). Kept in step by bumpRoster.
	`
CREATE TABLE clock_for_grants (
	employee_id  TEXT    NOT NULL,
	from_version INTEGER NOT NULL,
	to_version   INTEGER,
	PRIMARY KEY (employee_id, from_version),
	CHECK (to_version IS NULL OR to_version > from_version)
) WITHOUT ROWID;
ALTER TABLE punches ADD COLUMN roster_version TEXT NOT NULL DEFAULT '';
INSERT INTO clock_for_grants (employee_id, from_version)
	SELECT e.id, c.roster_version FROM employees e JOIN roles r ON r.id = e.role_id, company c
	WHERE e.active = 1 AND r.clock_for = 1;
`,
	// 4: time you can trust and the signed punch chain (integrity.go).
	//
	// A punch keeps what the kiosk knew of its clock, and the trusted
	// time: the server's time at the boot's clock anchor plus the boot
	// clock's time since (NULL while its boot has no anchor: "time
	// unverified"). Timecards select and order punches by the trusted
	// time where there is one. A clock anchor keeps its boot's first
	// pairing beside the latest; when a boot's first anchor is written,
	// a trigger gives its punches that arrived before it their trusted
	// time (punches normally arrive after a check-in of their boot, but
	// check-ins are written a moment later, in batches).
	//
	// punch_chain holds every signed punch received, accepted or not: the
	// evidence the Devices page and the timecard show (integrity.go).
	`
ALTER TABLE punches ADD COLUMN clock_synced INTEGER NOT NULL DEFAULT 0;
ALTER TABLE punches ADD COLUMN clock_anchored INTEGER NOT NULL DEFAULT 0;
ALTER TABLE punches ADD COLUMN clock_behind INTEGER NOT NULL DEFAULT 0;
ALTER TABLE punches ADD COLUMN trusted_at_ns INTEGER;               -- NULL: time unverified
ALTER TABLE punches ADD COLUMN chain_id TEXT NOT NULL DEFAULT '';   -- '' with hash NULL: unsigned
ALTER TABLE punches ADD COLUMN hash BLOB;                           -- SHA-256 of its signed message
ALTER TABLE punches ADD COLUMN unsigned_late INTEGER NOT NULL DEFAULT 0; -- unsigned, after the device had sent signed punches
CREATE INDEX punches_employee_time ON punches (employee_id, coalesce(trusted_at_ns, at_ns));
CREATE INDEX punches_unverified ON punches (device_id, boot_id) WHERE trusted_at_ns IS NULL;
CREATE INDEX punches_unsigned_late ON punches (device_id) WHERE unsigned_late = 1;

ALTER TABLE clock_anchors ADD COLUMN first_server_time_ns INTEGER;
ALTER TABLE clock_anchors ADD COLUMN first_boot_time_ns INTEGER;
UPDATE clock_anchors SET first_server_time_ns = server_time_ns, first_boot_time_ns = boot_time_ns;
UPDATE punches SET trusted_at_ns = (SELECT a.server_time_ns + (punches.boot_time_ns - a.boot_time_ns)
	FROM clock_anchors a WHERE a.device_id = punches.device_id AND a.boot_id = punches.boot_id);
CREATE TRIGGER clock_anchors_first AFTER INSERT ON clock_anchors BEGIN
	UPDATE clock_anchors SET first_server_time_ns = NEW.server_time_ns, first_boot_time_ns = NEW.boot_time_ns
		WHERE device_id = NEW.device_id AND boot_id = NEW.boot_id;
	UPDATE punches SET trusted_at_ns = NEW.server_time_ns + (boot_time_ns - NEW.boot_time_ns)
		WHERE device_id = NEW.device_id AND boot_id = NEW.boot_id AND trusted_at_ns IS NULL;
END;

CREATE TABLE punch_chain (
	device_id      TEXT    NOT NULL REFERENCES devices (id),
	chain_id       TEXT    NOT NULL,
	seq            INTEGER NOT NULL,
	hash           BLOB    NOT NULL CHECK (length(hash) = 32),
	punch_id       TEXT    NOT NULL,
	prev_hash      BLOB    NOT NULL, -- as the punch claims; empty for the first of its chain
	signature      BLOB    NOT NULL,
	sig_ok         INTEGER NOT NULL CHECK (sig_ok IN (0, 1)),
	link           TEXT    NOT NULL CHECK (link IN ('ok', 'start', 'gap', 'broken')),
	conflict       TEXT    NOT NULL CHECK (conflict IN ('', 'replay', 'edit')), -- another punch had this seq first
	received_at_ns INTEGER NOT NULL,
	PRIMARY KEY (device_id, chain_id, seq, hash)
) WITHOUT ROWID;
CREATE INDEX punch_chain_problems ON punch_chain (device_id)
	WHERE sig_ok = 0 OR link IN ('gap', 'broken') OR conflict <> '';
`,
	// 5: signed over-the-air updates (releases.go, updates.go). A release
	// is one signed build of siteclockd for one architecture; its binary
	// is the file releases/<sha256> in the data folder, written and
	// fsync'd before its row commits. The office holds no release key: the
	// manifest is kept as uploaded, and kiosks verify it.
	//
	// An update target names the version kiosks should run: the row with
	// device_id NULL is every device's, a row naming a device overrides it
	// for that device. Each device keeps the architecture it reports and
	// its latest update report (state '' when it never sent one).
	`
CREATE TABLE releases (
	id             TEXT    PRIMARY KEY CHECK (id <> ''),
	version        TEXT    NOT NULL CHECK (version <> ''),
	arch           TEXT    NOT NULL CHECK (arch <> ''),
	size           INTEGER NOT NULL CHECK (size > 0),
	sha256         TEXT    NOT NULL CHECK (length(sha256) = 64),
	manifest       BLOB    NOT NULL CHECK (length(manifest) > 0), -- the signed manifest, as uploaded
	uploaded_at_ns INTEGER NOT NULL,
	uploaded_by    TEXT    NOT NULL,
	UNIQUE (version, arch)
);

CREATE TABLE update_targets (
	id        INTEGER PRIMARY KEY,
	device_id TEXT    REFERENCES devices (id), -- NULL: every device
	version   TEXT    NOT NULL CHECK (version <> ''),
	set_by    TEXT    NOT NULL,
	set_at_ns INTEGER NOT NULL
);
CREATE UNIQUE INDEX update_targets_scope ON update_targets (coalesce(device_id, ''));

ALTER TABLE devices ADD COLUMN arch TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN update_version TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN update_state TEXT NOT NULL DEFAULT ''
	CHECK (update_state IN ('', 'downloading', 'ready', 'installing', 'installed', 'rolled_back', 'refused', 'failed'));
ALTER TABLE devices ADD COLUMN update_progress INTEGER NOT NULL DEFAULT 0 CHECK (update_progress BETWEEN 0 AND 100);
ALTER TABLE devices ADD COLUMN update_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN update_at_ns INTEGER;       -- the kiosk's clock when it reached the state
ALTER TABLE devices ADD COLUMN update_received_ns INTEGER; -- the server's clock when it heard it
`,
}
