-- Subjects, addresses, consents, preferences, suppressions and the event trail.
-- Times always arrive as parameters from the service's clock; no DEFAULT now().
-- Channels: 1 EMAIL, 2 SMS, 3 CALL (0 in preferences/suppressions: every channel).
-- Address kinds: 1 e-mail, 2 phone.

CREATE TABLE subjects (
  id                   uuid PRIMARY KEY,
  external_id          text,
  surname              text NOT NULL DEFAULT '',
  given_name           text NOT NULL DEFAULT '',
  patronymic           text NOT NULL DEFAULT '',
  locale               text NOT NULL DEFAULT '',
  state                text NOT NULL DEFAULT 'active'
                         CHECK (state IN ('active', 'destroyed', 'depersonalized')),
  blocked              boolean NOT NULL DEFAULT false,
  revoked              boolean NOT NULL DEFAULT false,
  -- Current consent state, derived from the consents trail in the same transaction that
  -- appends to it (the newest occurred_at decides).
  processing_consent   boolean NOT NULL DEFAULT false,
  marketing_channels   integer NOT NULL DEFAULT 0,   -- bit (1 << channel) per consented channel
  cross_border_consent boolean NOT NULL DEFAULT false,
  -- The subject's gate row: every opt-out bumps it first; dispatch claims lock it FOR SHARE.
  gate_version         bigint NOT NULL DEFAULT 0,
  created_at           timestamptz NOT NULL,
  updated_at           timestamptz NOT NULL
);
CREATE UNIQUE INDEX subjects_external_id ON subjects (external_id) WHERE external_id IS NOT NULL;

CREATE TABLE addresses (
  id          bigserial PRIMARY KEY,
  subject_id  uuid NOT NULL REFERENCES subjects (id),
  kind        smallint NOT NULL CHECK (kind IN (1, 2)),
  value       text NOT NULL,      -- as sent to: e-mail with A-label domain, phone E.164
  match_key   text NOT NULL,      -- as compared: e-mail lower-cased whole, phone E.164
  added_at    timestamptz NOT NULL,
  UNIQUE (subject_id, kind, match_key)
);
CREATE INDEX addresses_match ON addresses (kind, match_key);

-- The append-only trail. Never updated, never deleted (see the trigger below).
CREATE TABLE events (
  id           bigserial PRIMARY KEY,
  subject_id   uuid,              -- null for events about a bare address
  address_key  bytea,             -- keyed hash of the address, for address events
  type         text NOT NULL,
  actor        text NOT NULL,
  source       smallint NOT NULL,
  occurred_at  timestamptz NOT NULL,
  recorded_at  timestamptz NOT NULL,
  details      jsonb NOT NULL     -- non-personal facts only
);
CREATE INDEX events_subject ON events (subject_id, id) WHERE subject_id IS NOT NULL;
CREATE INDEX events_address ON events (address_key, id) WHERE address_key IS NOT NULL;

-- Personal values behind events (names, addresses, IP, user agent). Destruction deletes
-- these rows; the events they belong to stay untouched.
CREATE TABLE event_personal (
  event_id     bigint PRIMARY KEY REFERENCES events (id),
  subject_id   uuid,
  address_key  bytea,
  data         jsonb NOT NULL
);
CREATE INDEX event_personal_subject ON event_personal (subject_id) WHERE subject_id IS NOT NULL;
CREATE INDEX event_personal_address ON event_personal (address_key) WHERE address_key IS NOT NULL;

-- Consent records: append-only, each with its proof. IP and user agent sit in
-- event_personal under event_id.
CREATE TABLE consents (
  id                bigserial PRIMARY KEY,
  subject_id        uuid NOT NULL REFERENCES subjects (id),
  kind              smallint NOT NULL CHECK (kind IN (1, 2, 3)),  -- processing, marketing, cross-border
  channel           smallint NOT NULL DEFAULT 0,
  granted           boolean NOT NULL,
  source            smallint NOT NULL,
  form_id           text NOT NULL DEFAULT '',
  document_version  text NOT NULL DEFAULT '',
  occurred_at       timestamptz NOT NULL,
  recorded_at       timestamptz NOT NULL,
  actor             text NOT NULL,
  event_id          bigint NOT NULL REFERENCES events (id)
);
CREATE INDEX consents_current ON consents (subject_id, kind, channel, occurred_at DESC, id DESC);

-- Current opt-in/opt-out state. Keyed by (channel, topic) where channel 0 means every
-- channel and topic '' every marketing topic. For a (topic, channel) the matching row with
-- the highest seq (the event that set it) decides.
CREATE TABLE preferences (
  subject_id  uuid NOT NULL REFERENCES subjects (id),
  channel     smallint NOT NULL,
  topic       text NOT NULL,
  subscribed  boolean NOT NULL,
  seq         bigint NOT NULL,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (subject_id, channel, topic)
);

-- Address-level "never send", under a keyed hash of the normalised address so it survives
-- the subject's destruction. Lifting sets lifted_at; rows are never deleted.
CREATE TABLE suppressions (
  id               bigserial PRIMARY KEY,
  key_id           text NOT NULL,
  address_key      bytea NOT NULL,
  channel          smallint NOT NULL,   -- 0: every channel the address reaches
  topic            text NOT NULL,       -- '': all marketing
  reason           smallint NOT NULL,   -- 1 unsubscribed, 2 sms stop, 3 hard bounce, 4 complaint, 5 revoked, 6 manual
  source           smallint NOT NULL,
  created_at       timestamptz NOT NULL,
  event_id         bigint NOT NULL REFERENCES events (id),
  lifted_at        timestamptz,
  lifted_event_id  bigint REFERENCES events (id)
);
CREATE INDEX suppressions_lookup ON suppressions (address_key) WHERE lifted_at IS NULL;

-- Gate rows of bare addresses (subjects use subjects.gate_version): an address opt-out
-- bumps its row first, so a dispatch claim holding it FOR SHARE is ordered against it.
CREATE TABLE address_gates (
  address_key  bytea PRIMARY KEY,
  version      bigint NOT NULL
);

-- Idempotency keys, per client and RPC, with a hash of the request. The response is
-- stored as non-personal JSON (ids and flags) and rebuilt from current rows.
CREATE TABLE idempotency_keys (
  client_id     text NOT NULL,
  method        text NOT NULL,
  key           text NOT NULL,
  request_hash  bytea NOT NULL,
  response      jsonb NOT NULL,
  created_at    timestamptz NOT NULL,
  PRIMARY KEY (client_id, method, key)
);

CREATE FUNCTION herald_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION herald_refuse_change();
CREATE TRIGGER consents_append_only BEFORE UPDATE OR DELETE ON consents
  FOR EACH ROW EXECUTE FUNCTION herald_refuse_change();
