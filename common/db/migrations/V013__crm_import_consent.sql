-- Consent an import records with proof the operator supplied (an ImportConsent message as
-- protobuf JSON; '' when the import records none), kept so a resumed run records the same,
-- and how many marketing consents it recorded.
ALTER TABLE crm_imports ADD COLUMN consent text NOT NULL DEFAULT '';
ALTER TABLE crm_imports ADD COLUMN consents bigint NOT NULL DEFAULT 0;
