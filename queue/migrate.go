package queue

// migrations are the schema steps in order; PRAGMA user_version counts how
// many a database has had. Append new steps, never edit a released one: a
// kiosk in the field may hold any earlier version.
//
// Times are stored as Unix nanoseconds (INTEGER, NULL when unset), with the
// punch's zone offset beside its wall time, so that they round-trip exactly
// and compare as numbers. Durations are nanoseconds.
var migrations = []string{
	// 1: punches, device, roster.
	`
CREATE TABLE punches (
	seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
	id                  TEXT    NOT NULL UNIQUE CHECK (id <> ''),
	employee_id         TEXT    NOT NULL CHECK (employee_id <> ''),
	employee_number     TEXT    NOT NULL,
	employee_name       TEXT    NOT NULL,
	direction           TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
	at_ns               INTEGER NOT NULL,
	at_offset           INTEGER NOT NULL, -- seconds east of UTC of the device's zone at the punch
	boot_time_ns        INTEGER NOT NULL,
	boot_id             TEXT    NOT NULL,
	clocked_by          TEXT    NOT NULL,
	photo               TEXT    NOT NULL, -- file name in photos/, '' for none
	no_photo            TEXT    NOT NULL,
	committed_at_ns     INTEGER NOT NULL,
	sent_at_ns          INTEGER,
	photo_sent_at_ns    INTEGER,
	photo_deleted_at_ns INTEGER,
	CHECK (photo = '' OR no_photo = ''),
	CHECK (photo_deleted_at_ns IS NULL OR photo_sent_at_ns IS NOT NULL)
);
CREATE INDEX punches_unsent ON punches (seq) WHERE sent_at_ns IS NULL;
CREATE INDEX punches_photo_unsent ON punches (seq) WHERE photo <> '' AND photo_sent_at_ns IS NULL;
CREATE INDEX punches_photo_reclaimable ON punches (seq)
	WHERE photo <> '' AND photo_sent_at_ns IS NOT NULL AND photo_deleted_at_ns IS NULL;

CREATE TABLE device (
	id           INTEGER PRIMARY KEY CHECK (id = 1),
	provisioned  INTEGER NOT NULL CHECK (provisioned IN (0, 1)),
	disabled     INTEGER NOT NULL CHECK (disabled IN (0, 1)),
	last_sync_ns INTEGER
);
INSERT INTO device (id, provisioned, disabled) VALUES (1, 0, 0);

CREATE TABLE roster_meta (
	id             INTEGER PRIMARY KEY CHECK (id = 1),
	version        TEXT    NOT NULL,
	kdf_salt       BLOB    NOT NULL CHECK (length(kdf_salt) >= 8),
	kdf_iterations INTEGER NOT NULL CHECK (kdf_iterations >= 1000),
	loaded_at_ns   INTEGER NOT NULL
);

CREATE TABLE settings (
	id                 INTEGER PRIMARY KEY CHECK (id = 1),
	nickname           TEXT    NOT NULL,
	timezone           TEXT    NOT NULL,
	language           TEXT    NOT NULL CHECK (language IN ('en', 'es')),
	photo_rotation     INTEGER NOT NULL CHECK (photo_rotation IN (0, 90, 180, 270)),
	screen_timeout_ns  INTEGER NOT NULL CHECK (screen_timeout_ns >= 0),
	saved_screen_ns    INTEGER NOT NULL CHECK (saved_screen_ns >= 0),
	photo_countdown_ns INTEGER NOT NULL CHECK (photo_countdown_ns >= 0),
	photo_preview_ns   INTEGER NOT NULL CHECK (photo_preview_ns >= 0),
	message_screen_ns  INTEGER NOT NULL CHECK (message_screen_ns >= 0)
);

CREATE TABLE roles (
	id         TEXT    PRIMARY KEY CHECK (id <> ''),
	name       TEXT    NOT NULL,
	face_front INTEGER NOT NULL CHECK (face_front IN (0, 1)),
	clock_for  INTEGER NOT NULL CHECK (clock_for IN (0, 1))
);

CREATE TABLE employees (
	pos           INTEGER PRIMARY KEY, -- order in the roster
	id            TEXT    NOT NULL UNIQUE CHECK (id <> ''),
	number        TEXT    NOT NULL UNIQUE CHECK (number <> ''),
	name          TEXT    NOT NULL,
	role_id       TEXT    NOT NULL REFERENCES roles (id),
	active        INTEGER NOT NULL CHECK (active IN (0, 1)),
	photo_consent INTEGER NOT NULL CHECK (photo_consent IN (0, 1)),
	language      TEXT    NOT NULL CHECK (language IN ('', 'en', 'es')),
	pin_hash      BLOB    NOT NULL CHECK (length(pin_hash) = 32)
);
`,
	// 2: refusals. The back office may refuse a punch, or a photo, for good
	// (an unknown employee, say). It is then kept for a person to see, no
	// longer waits for upload, and is never retried. NULL: not refused.
	`
ALTER TABLE punches ADD COLUMN rejected_at_ns INTEGER;
ALTER TABLE punches ADD COLUMN rejected_reason TEXT;
ALTER TABLE punches ADD COLUMN photo_rejected_at_ns INTEGER;
ALTER TABLE punches ADD COLUMN photo_rejected_reason TEXT;
CREATE INDEX punches_rejected ON punches (seq)
	WHERE rejected_at_ns IS NOT NULL OR photo_rejected_at_ns IS NOT NULL;
`,
	// 3: the roster version a punch was made under, so the back office
	// judges Clock For by the roles the kiosk knew. '' for punches made
	// before this step (judged by the roles as they are).
	`
ALTER TABLE punches ADD COLUMN roster_version TEXT NOT NULL DEFAULT '';
`,
	// 4: time you can trust and the signed punch chain (see chain.go).
	// A punch records its photo's hash (which the signature covers) and
	// what the kiosk knew of its clock; from now on each punch is chained
	// to the one before and signed. Punches made before this step keep
	// hash NULL: they are outside the chain and go up unsigned.
	//
	// The device row gets the database's chain ID (random: a new database
	// is a new chain), the latest wall time the kiosk recorded outside a
	// punch (wall_mark_ns, with the last seq at the time; later punches'
	// times count too), and the kiosk's own latest clock anchor: the
	// server's time against this boot's clock.
	`
ALTER TABLE punches ADD COLUMN photo_sha256 TEXT NOT NULL DEFAULT ''; -- hex SHA-256 of the JPEG; '' for none, or before this step
ALTER TABLE punches ADD COLUMN clock_synced INTEGER NOT NULL DEFAULT 0;
ALTER TABLE punches ADD COLUMN clock_anchored INTEGER NOT NULL DEFAULT 0;
ALTER TABLE punches ADD COLUMN clock_behind INTEGER NOT NULL DEFAULT 0;
ALTER TABLE punches ADD COLUMN chain_id TEXT NOT NULL DEFAULT '';
ALTER TABLE punches ADD COLUMN prev_hash BLOB;
ALTER TABLE punches ADD COLUMN hash BLOB;      -- NULL: committed before this step, not chained
ALTER TABLE punches ADD COLUMN signature BLOB; -- NULL: unsigned

ALTER TABLE device ADD COLUMN chain_id TEXT NOT NULL DEFAULT '';
UPDATE device SET chain_id = lower(hex(randomblob(16)));
ALTER TABLE device ADD COLUMN wall_mark_ns INTEGER;
ALTER TABLE device ADD COLUMN wall_mark_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE device ADD COLUMN anchor_boot_id TEXT NOT NULL DEFAULT '';
ALTER TABLE device ADD COLUMN anchor_server_ns INTEGER;
ALTER TABLE device ADD COLUMN anchor_boot_ns INTEGER;
ALTER TABLE device ADD COLUMN anchor_device_ns INTEGER;
`,
}
