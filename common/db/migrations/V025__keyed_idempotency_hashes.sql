-- Idempotency request hashes are keyed (L6). A request may hold an address or a name, and an
-- idempotency row is not the subject's: it outlives the subject's destruction. A plain
-- SHA-256 of the request let anyone holding the table confirm a guessed request (a phone
-- number falls to enumeration), so the C++ side now hashes with HMAC-SHA256 under the
-- suppression keys (common/db/idempotency).
--
-- A claim passes the request's hash under every live key, newest first, concatenated (32
-- bytes each). The row keeps the first one (the newest key's); a repeat is the same request
-- when the stored hash is any of those offered, so a retry after a key rotation still
-- matches, and once the key it was stored under is retired, it no longer does.
--
-- Owner: common/db/idempotency (IdempotencyKey::Claim). Same signature as V017's, so every
-- server-side function that claims through it (V020, V021) takes the new rule.
CREATE OR REPLACE FUNCTION herald_idempotency_claim(
  p_client text, p_method text, p_key text, p_request_hash bytea, p_now timestamptz,
  OUT claimed boolean, OUT same_request boolean, OUT response jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  v_stored bytea;
BEGIN
  INSERT INTO idempotency_keys (client_id, method, key, request_hash, response, created_at)
  VALUES (p_client, p_method, p_key, substring(p_request_hash FROM 1 FOR 32), 'null'::jsonb,
          p_now)
  ON CONFLICT DO NOTHING;
  claimed := FOUND;
  IF claimed THEN
    same_request := true;
    RETURN;
  END IF;
  SELECT k.request_hash, k.response
  INTO v_stored, response
  FROM idempotency_keys k
  WHERE k.client_id = p_client
    AND k.method = p_method
    AND k.key = p_key;
  same_request := false;
  IF length(v_stored) = 32 THEN
    FOR i IN 0 .. length(p_request_hash) / 32 - 1 LOOP
      IF substring(p_request_hash FROM i * 32 + 1 FOR 32) = v_stored THEN
        same_request := true;
        EXIT;
      END IF;
    END LOOP;
  END IF;
END
$$;

-- The plain digests written before this migration cannot be keyed without the request, so
-- they are emptied: such a key still answers a repeat of its RPC with ALREADY_EXISTS and is
-- never run twice, and no unkeyed digest of a request is left behind.
UPDATE idempotency_keys
SET request_hash = '\x'::bytea
WHERE length(request_hash) = 32;
