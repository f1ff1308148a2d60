-- Consent capture with double opt-in (docs/consent-capture.md, CAP-1..CAP-7). A form on the
-- operator's site (or Herald's hosted form) makes a pending request; the one confirmation it
-- may send (an e-mail with a link, or an SMS with a code) goes out under the gate's second
-- exception; the POST of its link, or of its code, turns the request into consents.
--
--   pending    submitted, its confirmation queued; holds the address and the person's
--              personal values until it is confirmed or expires (then it is deleted)
--   confirmed  the link was POSTed; the consents are being recorded (a crash here is
--              finished by the capture job, every step idempotent by the request's id)
--   recorded   the subject is known and the trail has the request's events (submitted,
--              confirmed), so a repeat of the rest does not write them twice
--   applied    the consents are recorded on subject_id; the personal values are gone from
--              this row (they live on the subject and in event_personal)
CREATE TABLE capture_requests (
  id                   uuid PRIMARY KEY,
  form_id              text NOT NULL,
  channel              smallint NOT NULL,             -- herald.v1.Channel: EMAIL 1, SMS 2
  language             text NOT NULL CHECK (language IN ('az', 'ru', 'en')),
  topics               text[] NOT NULL,               -- the topics ticked
  offered              text[] NOT NULL,               -- the topics the form offered
  processing_document  text NOT NULL,                 -- the version the person agreed to
  marketing_document   text,                          -- null: the marketing box not ticked
  status               text NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'confirmed', 'recorded', 'applied')),
  submitted_at         timestamptz NOT NULL,
  expires_at           timestamptz NOT NULL,
  confirmed_at         timestamptz,
  -- Personal: cleared once applied, deleted with the row when it expires.
  address              text,
  match_key            text,
  personal             jsonb,                         -- names, IP and user agent of each step
  -- An SMS request is confirmed by a short code: its SHA-256 with the request id, and the
  -- wrong tries so far (the fifth ends the request).
  code_hash            text,
  code_tries           smallint NOT NULL DEFAULT 0,
  -- A consent an API call asked for from a source the operator requires confirmation of
  -- (capture.require_confirmation): the RecordConsent request to record once confirmed, for
  -- subject_id (set at once). Null for a form's request.
  replay               jsonb,
  message_id           uuid,                          -- the confirmation message
  subject_id           uuid,                          -- set when recorded (a replay's at once)
  CHECK (status <> 'pending' OR (address IS NOT NULL AND match_key IS NOT NULL))
);
-- The per-address limit counts a recipient's recent requests; the job finds what expired
-- and what a crash left confirmed.
CREATE INDEX capture_requests_address
  ON capture_requests (channel, match_key, submitted_at) WHERE status = 'pending';
CREATE INDEX capture_requests_expiry ON capture_requests (expires_at) WHERE status = 'pending';
CREATE INDEX capture_requests_confirmed
  ON capture_requests (confirmed_at) WHERE status IN ('confirmed', 'recorded');

-- The confirmation a message carries: the gate's second exception applies to it alone, and
-- a request has at most one (the unique index is the "once per request" of DESIGN).
ALTER TABLE messages ADD COLUMN confirms_capture uuid;
CREATE UNIQUE INDEX messages_confirms_capture
  ON messages (confirms_capture) WHERE confirms_capture IS NOT NULL;
