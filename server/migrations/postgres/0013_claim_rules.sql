-- Identity from the cloud's own directory: an operator's rules mapping a verified token's claim
-- (a group, an app role, a service principal's application ID, ...) from one configured issuer to
-- a role, and for tenants to subscriptions (comma-separated). Every rule a token matches adds to
-- what it may do (meterbook_core::identity).
CREATE TABLE claim_rules (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issuer        TEXT   NOT NULL,
    claim         TEXT   NOT NULL,
    value         TEXT   NOT NULL,
    role          TEXT   NOT NULL CHECK (role IN ('operator', 'tenant', 'provider')),
    subscriptions TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    created_by    TEXT   NOT NULL,
    UNIQUE (issuer, claim, value, role)
);
