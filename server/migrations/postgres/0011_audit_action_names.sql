-- Audit actions are one typed list named `<object>.<verb>` (meterbook_core::audit::AuditAction);
-- entries written under the earlier names are renamed so filters find them.
UPDATE audit_log SET action = CASE action
    WHEN 'sign_in' THEN 'session.sign_in'
    WHEN 'sign_in_failed' THEN 'session.refuse'
    WHEN 'sign_in_limited' THEN 'session.throttle'
    WHEN 'sign_out' THEN 'session.sign_out'
    WHEN 'token_created' THEN 'token.create'
    WHEN 'token_revoked' THEN 'token.revoke'
    WHEN 'widget_created' THEN 'widget.create'
    WHEN 'widget_revoked' THEN 'widget.revoke'
    WHEN 'user_added' THEN 'user.add'
    WHEN 'user_disabled' THEN 'user.disable'
    WHEN 'user_enabled' THEN 'user.enable'
    WHEN 'password_changed' THEN 'user.set_password'
    WHEN 'grant_added' THEN 'grant.add'
    WHEN 'grant_removed' THEN 'grant.remove'
    WHEN 'export' THEN 'usage.export'
    ELSE action
END;
