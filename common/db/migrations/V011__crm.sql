-- The Creatio connector (services/crm/).
--
-- crm_outbox: one row per linked contact whose card may need writing: a change to the
-- subject (its gate row taken for change) or to an address it owns puts the row here in the
-- change's own transaction, so a crash cannot lose it. Rows are coalesced per subject: a new
-- change bumps `revision`, and a delivery removes the row only at the revision it read, so
-- the card always ends with the newest state. What to write is derived at delivery from the
-- subject's current state, never stored here.
CREATE TABLE crm_outbox (
  subject_id   uuid PRIMARY KEY REFERENCES subjects (id),
  contact_id   uuid NOT NULL,       -- kept: a destroyed subject's final write still needs it
  revision     bigint NOT NULL DEFAULT 1,
  state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'parked', 'parked_auth', 'dead')),
  enqueued_at  timestamptz NOT NULL,  -- the oldest change not yet on the card
  due_at       timestamptz NOT NULL,  -- a claim leases the row by moving this forward
  attempts     integer NOT NULL DEFAULT 0,
  last_status  integer,               -- the HTTP status of the last answer, if any
  last_error   text NOT NULL DEFAULT '',  -- non-personal: "HTTP 503", "timeout"
  parked_at    timestamptz
);
CREATE INDEX crm_outbox_due ON crm_outbox (due_at) WHERE state = 'pending';

-- What Creatio is believed to hold for each linked contact: the values Herald last wrote,
-- read at the import, or was told by Creatio. A delivery writes only what differs, and a
-- change reported by Creatio that matches Herald's state enqueues nothing (no echo).
CREATE TABLE crm_contacts (
  subject_id          uuid PRIMARY KEY REFERENCES subjects (id),
  contact_id          uuid NOT NULL,
  do_not_use_email    boolean,        -- NULL: not known
  do_not_use_sms      boolean,
  do_not_use_call     boolean,
  -- BulkEmailType id -> {"row": BulkEmailSubscription id or null, "unsubscribed": bool}
  subscriptions       jsonb NOT NULL DEFAULT '{}',
  updated_at          timestamptz NOT NULL
);
CREATE UNIQUE INDEX crm_contacts_contact ON crm_contacts (contact_id);

-- The first import's runs: resumable from `cursor` (the last contact id of the last page
-- committed), with the counts its report prints.
CREATE TABLE crm_imports (
  id                 bigserial PRIMARY KEY,
  dry_run            boolean NOT NULL,
  state              text NOT NULL CHECK (state IN ('running', 'done', 'failed', 'cancelled')),
  phase              text NOT NULL DEFAULT 'contacts',   -- contacts, subscriptions
  cursor             text NOT NULL DEFAULT '',
  total              bigint,          -- Creatio's $count at the start, when it answered
  pages              integer NOT NULL DEFAULT 0,
  contacts_seen      bigint NOT NULL DEFAULT 0,
  subjects_created   bigint NOT NULL DEFAULT 0,
  subjects_matched   bigint NOT NULL DEFAULT 0,
  opt_outs           bigint NOT NULL DEFAULT 0,
  topic_opt_outs     bigint NOT NULL DEFAULT 0,
  skipped            bigint NOT NULL DEFAULT 0,
  error              text NOT NULL DEFAULT '',
  started_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  finished_at        timestamptz
);
-- At most one import runs at a time.
CREATE UNIQUE INDEX crm_imports_one_running ON crm_imports ((true)) WHERE state = 'running';

-- "Destroy the contact in Creatio" on the privacy officer's due list: the card there holds
-- the same personal data as a linked subject Herald revokes or destroys.
ALTER TABLE privacy_requests DROP CONSTRAINT privacy_requests_kind_check;
ALTER TABLE privacy_requests ADD CONSTRAINT privacy_requests_kind_check
  CHECK (kind IN ('access', 'stop_processing', 'rectify', 'revoke', 'destroy', 'crm_destroy'));
