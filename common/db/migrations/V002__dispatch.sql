-- Dispatch: campaigns, messages (the outbox), their status history and attempts.
-- Statuses: queued, suppressed, cancelled, sending, sent, delivered, undelivered, retrying,
-- failed. Times arrive as parameters from the service's clock.

CREATE TABLE campaigns (
  id               uuid PRIMARY KEY,
  client_id        text NOT NULL,
  name             text NOT NULL,
  topic            text NOT NULL,
  channel          smallint NOT NULL,
  subject_template text NOT NULL DEFAULT '',
  text_template    text NOT NULL,
  html_template    text NOT NULL DEFAULT '',
  variables        text[] NOT NULL DEFAULT '{}',
  status           text NOT NULL CHECK (status IN
                     ('draft', 'scheduled', 'running', 'paused', 'cancelled', 'finished')),
  start_at         timestamptz,
  rate_per_second  double precision NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL,
  started_at       timestamptz,
  finished_at      timestamptz
);

CREATE TABLE messages (
  id               uuid PRIMARY KEY,
  campaign_id      uuid REFERENCES campaigns (id),
  client_id        text NOT NULL,
  subject_id       uuid,
  -- Personal: the normalised address sent to and its match key (removed on destruction).
  address          text,
  match_key        text,
  channel          smallint NOT NULL,
  topic            text NOT NULL,
  -- Single sends carry their own content; campaign messages use the campaign's.
  subject_template text,
  text_template    text,
  html_template    text,
  variables        jsonb NOT NULL DEFAULT '{}',
  status           text NOT NULL CHECK (status IN ('queued', 'suppressed', 'cancelled',
                     'sending', 'sent', 'delivered', 'undelivered', 'retrying', 'failed')),
  deny_reason      smallint,
  provider         text,
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz,
  lease_owner      text,
  lease_expires_at timestamptz,
  sms_encoding     text,
  sms_segments     integer,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL
);
CREATE INDEX messages_due ON messages (next_attempt_at) WHERE status IN ('queued', 'retrying');
CREATE INDEX messages_leased ON messages (lease_expires_at) WHERE status = 'sending';
CREATE INDEX messages_sending_subject ON messages (subject_id) WHERE status = 'sending';
CREATE INDEX messages_sending_match ON messages (match_key) WHERE status = 'sending';
CREATE INDEX messages_campaign ON messages (campaign_id, status);
CREATE INDEX messages_subject ON messages (subject_id, created_at);

CREATE TABLE message_history (
  id           bigserial PRIMARY KEY,
  message_id   uuid NOT NULL REFERENCES messages (id),
  status       text NOT NULL,
  deny_reason  smallint,
  note         text NOT NULL DEFAULT '',
  at           timestamptz NOT NULL
);
CREATE INDEX message_history_message ON message_history (message_id, id);

CREATE TABLE message_attempts (
  id                   bigserial PRIMARY KEY,
  message_id           uuid NOT NULL REFERENCES messages (id),
  number               integer NOT NULL,
  provider             text NOT NULL,
  started_at           timestamptz NOT NULL,
  ended_at             timestamptz NOT NULL,
  outcome              text NOT NULL,
  code                 integer NOT NULL DEFAULT 0,
  enhanced_status      text NOT NULL DEFAULT '',
  provider_code        text NOT NULL DEFAULT '',
  detail               text NOT NULL DEFAULT '',  -- provider text: may quote the address
  provider_message_id  text NOT NULL DEFAULT ''
);
CREATE INDEX message_attempts_message ON message_attempts (message_id, number);
