-- People who sign in with the cloud's directory (OpenID Connect): their account is made at their
-- first sign-in and its role and grants are set again at each one, from the claim rules.
-- `issuer` (a configured issuer's name) and `subject` (the ID token's `sub`) find it again; local
-- accounts have neither, and a directory account has no usable password.
ALTER TABLE users ADD COLUMN issuer TEXT;
ALTER TABLE users ADD COLUMN subject TEXT;
CREATE UNIQUE INDEX users_by_directory_subject ON users (issuer, subject);
