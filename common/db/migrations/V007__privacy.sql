-- Data-subject requests under 152-FZ, each with its legal due date, and the destruction
-- records required by Roskomnadzor order No. 179.
-- Times always arrive as parameters from the service's clock; no DEFAULT now().

CREATE TABLE privacy_requests (
  id                  uuid PRIMARY KEY,
  kind                text NOT NULL
                        CHECK (kind IN ('access', 'stop_processing', 'rectify', 'revoke', 'destroy')),
  subject_id          uuid REFERENCES subjects (id),      -- null: an address with no known subject
  -- The event (e.g. privacy_request_received from an inbound e-mail) that opened it;
  -- unique so intake turns each event into exactly one request.
  origin_event_id     bigint UNIQUE REFERENCES events (id),
  source              smallint NOT NULL,                  -- herald.v1.Source
  received_at         timestamptz NOT NULL,
  due_at              timestamptz NOT NULL,
  status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'rejected')),
  handled_by          text,
  handled_at          timestamptz,
  -- The subject's block was set because of this request (rectification): completing the
  -- request lifts it.
  blocked_by_request  boolean NOT NULL DEFAULT false,
  details             jsonb NOT NULL DEFAULT '{}'::jsonb  -- non-personal facts only
);
CREATE INDEX privacy_requests_open_due ON privacy_requests (due_at, id) WHERE status = 'open';
CREATE INDEX privacy_requests_subject ON privacy_requests (subject_id) WHERE subject_id IS NOT NULL;

-- One row per destruction or depersonalization. subject_full_name is the ONLY place
-- personal data may survive destruction (the law requires the record to name the person);
-- readable only with the privacy scope and purged at purge_after (3 years by default).
CREATE TABLE destruction_records (
  id                  uuid PRIMARY KEY,
  subject_id          uuid NOT NULL,
  subject_full_name   text NOT NULL,
  categories          text[] NOT NULL,
  information_system  text NOT NULL,
  reason              text NOT NULL,
  method              text NOT NULL,
  performed_at        timestamptz NOT NULL,
  performed_by        text NOT NULL,
  purge_after         timestamptz NOT NULL
);
CREATE INDEX destruction_records_performed ON destruction_records (performed_at, id);
CREATE INDEX destruction_records_purge ON destruction_records (purge_after);

-- Intake finds the privacy_request_received events not yet turned into requests.
CREATE INDEX events_privacy_request_received ON events (id)
  WHERE type = 'privacy_request_received';
