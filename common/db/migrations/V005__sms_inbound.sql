-- Inbound SMS (keyword replies) and delivery receipts.
--
-- An inbound SMS is kept without the number in clear: only its keyed hash (the suppression
-- hasher's address key, with the key id so keys can rotate) and non-personal facts. The
-- number itself sits in event_personal behind the inbound's event, which destruction empties.

CREATE TABLE inbound_sms (
  id                   bigserial PRIMARY KEY,
  provider             text NOT NULL,
  provider_message_id  text NOT NULL,
  key_id               text NOT NULL,
  address_key          bytea NOT NULL,
  -- stop, start, help, or none (not a keyword: recorded and ignored)
  keyword_class        text NOT NULL CHECK (keyword_class IN ('stop', 'start', 'help', 'none')),
  -- What the keyword did: stopped, already_stopped, started, not_stopped, help, ignored.
  outcome              text NOT NULL,
  received_at          timestamptz NOT NULL,
  processed_at         timestamptz,
  reply_message_id     uuid,
  event_id             bigint NOT NULL REFERENCES events (id),
  UNIQUE (provider, provider_message_id)
);
CREATE INDEX inbound_sms_address ON inbound_sms (address_key, received_at);

-- The gate's keyword-reply fact: a message that answers an inbound keyword names it here.
ALTER TABLE messages ADD COLUMN reply_to_inbound bigint REFERENCES inbound_sms (id);

-- Delivery receipts find the attempt by the id the provider gave it.
CREATE INDEX message_attempts_provider_message
  ON message_attempts (provider, provider_message_id) WHERE provider_message_id <> '';
