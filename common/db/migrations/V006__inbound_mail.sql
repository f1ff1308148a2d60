-- Inbound e-mail (seed markers, mailto unsubscribes, DSN bounces, ARF complaints).
-- Nothing personal in clear: no raw mail, no addresses, no subjects. Personal values (the
-- sender's address) go to event_personal through the events the processing appends.

CREATE TABLE inbound_mail (
  id                 bigserial PRIMARY KEY,
  -- SHA-256 of the Message-ID (or of the whole message when it has none): the same mail
  -- posted twice is processed once.
  dedupe_hash        bytea NOT NULL UNIQUE,
  kind               text NOT NULL CHECK (kind IN ('marker', 'dsn', 'arf', 'other')),
  outcome            text NOT NULL,
  -- The Herald message a DSN or complaint was about, when we sent it.
  herald_message_id  uuid,
  campaign_id        uuid,
  status_code        text NOT NULL DEFAULT '',   -- DSN status (e.g. 5.1.1); not personal
  received_at        timestamptz NOT NULL
);
CREATE INDEX inbound_mail_message ON inbound_mail (herald_message_id)
  WHERE herald_message_id IS NOT NULL;

-- Complaints (ARF) per campaign, counted once per message; exposed by GetCampaign and as
-- the herald_campaign_complaints / herald_campaign_complaint_rate gauges.
ALTER TABLE campaigns ADD COLUMN complaints bigint NOT NULL DEFAULT 0;
