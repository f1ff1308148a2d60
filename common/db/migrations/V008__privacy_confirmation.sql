-- Requests that arrive by an e-mail marker carry a forgeable From: (STANDARDS §2b). The
-- steps that are not harmless (blocking after a rectification, revoking and scheduling
-- destruction after a revocation) wait until the request is confirmed:
--   none      nothing to confirm (API or operator requests, refusals, unknown addresses)
--   pending   waiting for the confirmation link or the privacy officer
--   link      confirmed by POST of the signed link sent to the address
--   dmarc     the operator's MTA recorded a DMARC-aligned pass for the From: domain
--   operator  confirmed by the privacy officer (RevokeConsent / BlockSubject naming it)
ALTER TABLE privacy_requests
  ADD COLUMN confirmation text NOT NULL DEFAULT 'none'
    CHECK (confirmation IN ('none', 'pending', 'link', 'dmarc', 'operator')),
  ADD COLUMN confirmed_at timestamptz;
