-- Rate limits shared by every heraldd process of one database (services/dispatch/throttle/
-- shared_rate.cc): one row per limit ("provider:<name>", "campaign:<id>"), kept as the
-- generic cell rate algorithm keeps it: `tat`, the theoretical arrival time of the next
-- token. Taking n tokens moves it n / rate seconds on from max(tat, now), and is allowed while
-- that stays within burst / rate of now. PostgreSQL's clock is the only clock, so replicas on
-- hosts whose clocks disagree still share one limit.
CREATE TABLE rate_buckets (
  name  text PRIMARY KEY,
  tat   timestamptz NOT NULL
);
