-- Fair sending (docs/fair-sending.md, FAIR-1..FAIR-8): frequency caps and quiet hours.

-- The subject's own IANA time zone (e.g. "Asia/Yekaterinburg"), for quiet hours; NULL: the
-- operator's zone (quiet_hours.time_zone). Never guessed from the locale: one language spans
-- many zones. Personal (it hints where the person lives): cleared when the subject is
-- destroyed, depersonalized or merged away.
ALTER TABLE subjects ADD COLUMN time_zone text;

-- The marketing messages a subject was sent per channel, for frequency caps: one row per
-- (subject, channel, scope), scope '' for the channel's cap over every marketing topic and a
-- topic's name for that topic's own cap. `taken` holds the claim times of the slots still
-- inside the longest window that applies; a claim prunes and appends in one conditional
-- upsert ("… WHERE the slots inside the window < cap"), so two workers never both take the
-- last slot (the row lock orders them and the second re-checks the condition).
CREATE TABLE frequency_slots (
  subject_id  uuid NOT NULL REFERENCES subjects (id),
  channel     smallint NOT NULL,          -- herald.v1.Channel
  scope       text NOT NULL,              -- '' or a topic name
  cap         integer NOT NULL,           -- the cap and window (seconds) of the newest claim
  window_s    integer NOT NULL,
  taken       timestamptz[] NOT NULL,
  PRIMARY KEY (subject_id, channel, scope)
);
