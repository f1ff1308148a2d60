-- A message's age for giving up counts from its first attempt, not from when it was queued
-- (campaign recipients may be loaded days before the campaign starts, or paused).
ALTER TABLE messages ADD COLUMN first_attempt_at timestamptz;
