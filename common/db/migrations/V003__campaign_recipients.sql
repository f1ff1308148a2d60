-- One message per address within a campaign: duplicate recipients collapse.
CREATE UNIQUE INDEX messages_campaign_recipient ON messages (campaign_id, channel, match_key)
  WHERE campaign_id IS NOT NULL;
