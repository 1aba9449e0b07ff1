#!/usr/bin/env bash
# Proof that end2end/idp/server.mjs works: starts it on a free port in a temporary directory,
# exercises discovery, client credentials (curl and azure-identity/MSAL in AD FS mode), an
# authorization code + PKCE sign-in with a group change in between, RP-initiated logout and key
# rotation, then stops it. Exits non-zero on the first failure; every network step is time-bounded.
#
#   bash end2end/idp/check.sh
#
# Needs node (with end2end/node_modules installed), python3 with venv/pip (PyPI reachable, for
# azure-identity), curl and openssl.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TMP="$(mktemp -d)"
IDP_PID=""

cleanup() {
  local status=$?
  if [[ -n "$IDP_PID" ]] && kill -0 "$IDP_PID" 2>/dev/null; then
    kill -TERM "$IDP_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$IDP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$IDP_PID" 2>/dev/null || true
  fi
  if [[ $status -ne 0 ]]; then
    echo "--- IdP stderr (last 40 lines) ---" >&2
    tail -n 40 "$TMP/idp.err" >&2 2>/dev/null || true
    echo "FAILED (exit $status)" >&2
  fi
  rm -rf "$TMP"
  exit $status
}
trap cleanup EXIT

step() { echo "== $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
CURL=(curl --silent --show-error --fail-with-body --max-time 15)

# Verify a JWT's RS256 signature against a JWKS file; prints the JSON header. Node's crypto needs
# no extra packages.
cat >"$TMP/verify.mjs" <<'EOF'
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
const [jwksFile, token] = process.argv.slice(2);
const [h, p, s] = token.split('.');
const header = JSON.parse(Buffer.from(h, 'base64url'));
const jwk = JSON.parse(readFileSync(jwksFile, 'utf8')).keys.find((k) => k.kid === header.kid);
if (header.alg !== 'RS256' || !jwk) throw new Error(`no RS256 key ${header.kid} in the JWKS`);
const key = createPublicKey({ key: jwk, format: 'jwk' });
if (!verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))) {
  throw new Error('bad signature');
}
console.log(JSON.stringify(header));
EOF

# Decode a JWT's payload (base64url) and check it against a Python expression over `c`.
cat >"$TMP/claims.py" <<'EOF'
import base64, json, sys, time
token, checks = sys.argv[1], sys.argv[2:]
part = token.split(".")[1]
c = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
now = time.time()
for check in checks:
    if not eval(check, {"c": c, "now": now}):
        sys.exit(f"claim check failed: {check}\nclaims: {json.dumps(c, indent=1)}")
print(json.dumps(c, sort_keys=True))
EOF

# --- a. start -------------------------------------------------------------------------------
step "a. start the IdP"
node "$HERE/server.mjs" --port 0 --dir "$TMP/state" >"$TMP/idp.out" 2>"$TMP/idp.err" &
IDP_PID=$!
for _ in $(seq 150); do
  [[ -s "$TMP/idp.out" ]] && break
  kill -0 "$IDP_PID" 2>/dev/null || fail "IdP exited early"
  sleep 0.2
done
[[ -s "$TMP/idp.out" ]] || fail "IdP printed nothing within 30 s"
sleep 0.3 # anything after the ready line would be a bug; give it a moment to show up
[[ $(wc -l <"$TMP/idp.out") -eq 1 ]] || fail "stdout must be exactly one line: $(cat "$TMP/idp.out")"
read -r ISSUER PORT CA < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert set(d) == {"issuer", "port", "ca"}, d
print(d["issuer"], d["port"], d["ca"])' "$TMP/idp.out")
echo "ready: $(cat "$TMP/idp.out")"
[[ "$ISSUER" == "https://127.0.0.1:$PORT/adfs" ]] || fail "unexpected issuer $ISSUER"
[[ -f "$CA" && "$CA" == /* ]] || fail "ca is not an absolute path to a file: $CA"
BASE="https://127.0.0.1:$PORT"
"${CURL[@]}" --cacert "$CA" "$BASE/admin/health" >/dev/null || fail "health"

# --- b. discovery ---------------------------------------------------------------------------
step "b. discovery"
"${CURL[@]}" --cacert "$CA" "$ISSUER/.well-known/openid-configuration" >"$TMP/discovery.json"
python3 - "$TMP/discovery.json" "$ISSUER" <<'EOF'
import json, sys
d, issuer = json.load(open(sys.argv[1])), sys.argv[2]
assert d["issuer"] == issuer, d["issuer"]
for key in ["authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint", "end_session_endpoint"]:
    assert d[key].startswith(issuer + "/"), (key, d[key])
    print(f"  {key}: {d[key]}")
assert d["code_challenge_methods_supported"] == ["S256"], d["code_challenge_methods_supported"]
assert "client_credentials" in d["grant_types_supported"], d["grant_types_supported"]
EOF
TOKEN_URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token_endpoint"])' "$TMP/discovery.json")
JWKS_URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jwks_uri"])' "$TMP/discovery.json")
"${CURL[@]}" --cacert "$CA" "$JWKS_URL" >"$TMP/jwks.json"

# --- c. client credentials with curl ---------------------------------------------------------
step "c. client credentials (curl, resource=api://meterbook)"
"${CURL[@]}" --cacert "$CA" -u billing-script:script-secret \
  -d grant_type=client_credentials --data-urlencode resource=api://meterbook \
  "$TOKEN_URL" >"$TMP/cc.json"
CC_TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$TMP/cc.json")
python3 "$TMP/claims.py" "$CC_TOKEN" \
  "c['aud'] == 'api://meterbook'" "c['iss'] == '$ISSUER'" "c['roles'] == ['Meterbook.Reader']" \
  "now < c['exp'] <= now + 3700" "c['sub'] == c['appid'] == c['azp'] == 'billing-script'" \
  "len(c['oid']) == 36" "'groups' not in c"
node "$TMP/verify.mjs" "$TMP/jwks.json" "$CC_TOKEN" >/dev/null || fail "signature of the client credentials token"
# Wrong secret and unknown resource are refused.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 --cacert "$CA" -u billing-script:nope \
  -d grant_type=client_credentials -d resource=api://meterbook "$TOKEN_URL")
[[ "$code" == 401 ]] || fail "wrong client secret gave HTTP $code"
body=$(curl -s --max-time 15 --cacert "$CA" -u billing-script:script-secret -d grant_type=client_credentials \
  -d resource=api://unknown "$TOKEN_URL")
[[ "$body" == *'"invalid_target"'* ]] || fail "unknown resource not refused with invalid_target: $body"
echo "  ok (signature verified; wrong secret -> 401; unknown resource -> invalid_target)"

# --- d. azure-identity (MSAL) in AD FS mode --------------------------------------------------
step "d. azure-identity ClientSecretCredential (authority ending in /adfs)"
python3 -m venv "$TMP/venv"
timeout 300 "$TMP/venv/bin/pip" install --quiet --disable-pip-version-check 'azure-identity==1.27.*' \
  || fail "pip install azure-identity"
echo "  $("$TMP/venv/bin/pip" list --disable-pip-version-check 2>/dev/null | grep -E '^(azure-identity|msal) ' | tr -s ' ' | paste -sd ',')"
before=$(wc -l <"$TMP/idp.err")
MSAL_TOKEN=$(REQUESTS_CA_BUNDLE="$CA" SSL_CERT_FILE="$CA" timeout 60 "$TMP/venv/bin/python" - "$BASE" <<'EOF'
import sys
from azure.identity import ClientSecretCredential
credential = ClientSecretCredential(
    tenant_id="adfs", client_id="billing-script", client_secret="script-secret",
    authority=sys.argv[1], disable_instance_discovery=True)
print(credential.get_token("api://meterbook/.default").token)
EOF
) || fail "azure-identity get_token"
python3 "$TMP/claims.py" "$MSAL_TOKEN" \
  "c['aud'] == 'api://meterbook'" "c['iss'] == '$ISSUER'" "c['roles'] == ['Meterbook.Reader']" \
  "c['scope'] == 'api://meterbook/.default'" >/dev/null
node "$TMP/verify.mjs" "$TMP/jwks.json" "$MSAL_TOKEN" >/dev/null || fail "signature of the MSAL token"
echo "  what MSAL sent (IdP log):"
tail -n +"$((before + 1))" "$TMP/idp.err" | grep -E '^(GET|POST) /adfs/|^token request:' | sed 's/^/    /'
echo "  ok: aud=api://meterbook"

# --- e. authorization code + PKCE as terry, then a group change ------------------------------
step "e. authorization code + PKCE sign-in as terry"
# Tests point the portal client at their own callback by rewriting config.json; do the same.
REDIRECT_URI="http://127.0.0.1:9/auth/oidc/callback"
POST_LOGOUT_URI="http://127.0.0.1:9/signed-out"
python3 - "$TMP/state/config.json" "$REDIRECT_URI" "$POST_LOGOUT_URI" <<'EOF'
import json, sys
path, redirect_uri, post_logout = sys.argv[1:]
config = json.load(open(path))
config["clients"]["meterbook-portal"]["redirect_uris"] = [redirect_uri]
config["clients"]["meterbook-portal"]["post_logout_redirect_uris"] = [post_logout]
json.dump(config, open(path, "w"), indent=2)
EOF

cat >"$TMP/login.py" <<'EOF'
"""Browser-less sign-in: authorize -> login form -> POST credentials -> redirects -> code -> tokens.
Usage: login.py DISCOVERY_JSON CA REDIRECT_URI POST_LOGOUT_URI AUTHZ_EXTRA_JSON [logout]"""
import base64, hashlib, html, http.cookiejar, json, re, secrets, ssl, sys, urllib.error, urllib.parse, urllib.request

disco = json.load(open(sys.argv[1]))
ca, redirect_uri, post_logout_uri, extra = sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
do_logout = "logout" in sys.argv[6:]
jar = http.cookiejar.CookieJar()

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

opener = urllib.request.build_opener(
    urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca)),
    urllib.request.HTTPCookieProcessor(jar), NoRedirect)

def call(url, form=None, headers=None):
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=15) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()

def follow(url):
    """Follow redirects until one points at the redirect URI (not served: only its query counts)."""
    for _ in range(10):
        if url.startswith(redirect_uri) or url.startswith(post_logout_uri):
            return url, None
        status, headers, body = call(url)
        if status in (301, 302, 303, 307):
            url = urllib.parse.urljoin(url, headers["Location"])
            continue
        return url, (status, body)
    sys.exit("too many redirects")

def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge

def authorize(params):
    return disco["authorization_endpoint"] + "?" + urllib.parse.urlencode(params)

base = {"client_id": "meterbook-portal", "response_type": "code", "redirect_uri": redirect_uri, **extra}

# Without PKCE the request is refused (error sent back to the redirect URI).
url, page = follow(authorize({**base, "state": "s0", "nonce": "n0"}))
query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
assert query.get("error") == "invalid_request" and "PKCE" in query.get("error_description", ""), (url, page)

verifier, challenge = pkce()
state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
url, page = follow(authorize({**base, "state": state, "nonce": nonce,
                              "code_challenge": challenge, "code_challenge_method": "S256"}))
assert page and page[0] == 200, (url, page)
form_html = page[1]
for needle in ['<label for="username">Username</label>', '<label for="password">Password</label>', ">Sign in</button>"]:
    assert needle in form_html, needle
action = urllib.parse.urljoin(url, html.unescape(re.search(r'<form method="post" action="([^"]+)"', form_html).group(1)))

# A wrong password shows the form again with an error.
status, _, body = call(action, {"username": "terry", "password": "wrong"})
assert status == 200 and "Invalid username or password" in body, (status, body[:300])

status, headers, body = call(action, {"username": "terry", "password": "terry-pass"})
assert status == 303, (status, body[:300])
url, page = follow(urllib.parse.urljoin(action, headers["Location"]))
assert page is None, (url, page)
query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
assert query.get("state") == state, query
assert query.get("iss") == disco["issuer"], query
assert "code" in query, query

basic = base64.b64encode(b"meterbook-portal:portal-secret").decode()
status, _, body = call(disco["token_endpoint"], {
    "grant_type": "authorization_code", "code": query["code"], "redirect_uri": redirect_uri,
    "code_verifier": verifier}, {"Authorization": "Basic " + basic})
assert status == 200, (status, body)
tokens = json.loads(body)

logout = None
if do_logout:
    # RP-initiated logout: confirmation page, then back to the post-logout redirect URI.
    status, _, body = call(disco["end_session_endpoint"] + "?" + urllib.parse.urlencode({
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": post_logout_uri, "state": "bye"}))
    assert status == 200 and 'id="op.logoutForm"' in body, (status, body[:300])
    form_action = html.unescape(re.search(r'<form id="op.logoutForm" method="post" action="([^"]+)"', body).group(1))
    fields = dict((html.unescape(n), html.unescape(v)) for n, v in
                  re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body))
    status, headers, body = call(urllib.parse.urljoin(disco["end_session_endpoint"], form_action), {**fields, "logout": "yes"})
    assert status in (302, 303), (status, body[:300])
    logout = headers["Location"]
    assert logout.startswith(post_logout_uri) and "state=bye" in logout, logout
    # The session is gone: a new authorization request asks for credentials again.
    _, challenge2 = pkce()
    url, page = follow(authorize({**base, "state": "s2", "nonce": "n2",
                                  "code_challenge": challenge2, "code_challenge_method": "S256"}))
    assert page and "Sign in</button>" in page[1], (url, page and page[0])

print(json.dumps({"nonce": nonce, "tokens": tokens, "logout": logout}))
EOF

login() { # $1 = extra authorization parameters as JSON, $2 = optional "logout"
  timeout 60 python3 "$TMP/login.py" "$TMP/discovery.json" "$CA" "$REDIRECT_URI" "$POST_LOGOUT_URI" "$@"
}
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d = d[k]
print(d)' "$@"; }

login '{"scope": "openid profile email", "resource": "api://meterbook"}' logout >"$TMP/login1.json" || fail "sign-in 1"
NONCE=$(field "$TMP/login1.json" nonce)
ID_TOKEN=$(field "$TMP/login1.json" tokens.id_token)
AT=$(field "$TMP/login1.json" tokens.access_token)
echo "  id_token:"
python3 "$TMP/claims.py" "$ID_TOKEN" "c['groups'] == ['tenant-contoso']" "c['nonce'] == '$NONCE'" \
  "c['sub'] == 'terry'" "c['name'] == 'Terry Tenant'" "c['aud'] == 'meterbook-portal'" \
  "c['iss'] == '$ISSUER'" "c['roles'] == []" "c['upn'] == 'terry@meterbook.test'" | sed 's/^/    /'
echo "  access_token (resource=api://meterbook):"
python3 "$TMP/claims.py" "$AT" "c['aud'] == 'api://meterbook'" "c['groups'] == ['tenant-contoso']" \
  "c['sub'] == 'terry'" "c['azp'] == 'meterbook-portal'" | sed 's/^/    /'
node "$TMP/verify.mjs" "$TMP/jwks.json" "$ID_TOKEN" >/dev/null || fail "ID token signature"
node "$TMP/verify.mjs" "$TMP/jwks.json" "$AT" >/dev/null || fail "access token signature"
echo "  ok; RP-initiated logout redirected to $(field "$TMP/login1.json" logout)"

step "e. POST /admin/users/terry groups=[] and sign in again (scope api://meterbook/.default)"
"${CURL[@]}" --cacert "$CA" -H 'content-type: application/json' \
  -d '{"groups": [], "roles": ["Meterbook.Tenant"]}' "$BASE/admin/users/terry" >/dev/null
login '{"scope": "openid profile api://meterbook/.default"}' >"$TMP/login2.json" || fail "sign-in 2"
NONCE=$(field "$TMP/login2.json" nonce)
python3 "$TMP/claims.py" "$(field "$TMP/login2.json" tokens.id_token)" \
  "c['groups'] == []" "c['roles'] == ['Meterbook.Tenant']" "c['nonce'] == '$NONCE'" >/dev/null
python3 "$TMP/claims.py" "$(field "$TMP/login2.json" tokens.access_token)" \
  "c['aud'] == 'api://meterbook'" "c['groups'] == []" "c['scope'] == 'api://meterbook/.default'" >/dev/null
echo "  ok: groups now [] in the ID token and the access token"

step "e. refresh token picks up the next group change"
"${CURL[@]}" --cacert "$CA" -H 'content-type: application/json' -d '{"groups": ["tenant-fabrikam"]}' \
  "$BASE/admin/users/terry" >/dev/null
"${CURL[@]}" --cacert "$CA" -u meterbook-portal:portal-secret -d grant_type=refresh_token \
  --data-urlencode refresh_token="$(field "$TMP/login2.json" tokens.refresh_token)" "$TOKEN_URL" >"$TMP/refresh.json"
python3 "$TMP/claims.py" "$(field "$TMP/refresh.json" access_token)" \
  "c['aud'] == 'api://meterbook'" "c['groups'] == ['tenant-fabrikam']" >/dev/null
python3 "$TMP/claims.py" "$(field "$TMP/refresh.json" id_token)" "c['groups'] == ['tenant-fabrikam']" >/dev/null
echo "  ok: refreshed tokens carry groups [tenant-fabrikam]"

# --- f. key rotation -------------------------------------------------------------------------
step "f. key rotation"
OLD_KID=$(node "$TMP/verify.mjs" "$TMP/jwks.json" "$CC_TOKEN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["kid"])')
NEW_KID=$("${CURL[@]}" --cacert "$CA" -X POST "$BASE/admin/rotate-keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["kid"])')
"${CURL[@]}" --cacert "$CA" "$JWKS_URL" >"$TMP/jwks2.json"
python3 - "$TMP/jwks2.json" "$NEW_KID" "$OLD_KID" <<'EOF'
import json, sys
keys = json.load(open(sys.argv[1]))["keys"]
assert [k["kid"] for k in keys] == sys.argv[2:], [k["kid"] for k in keys]
assert all("d" not in k and k["kty"] == "RSA" for k in keys)
EOF
"${CURL[@]}" --cacert "$CA" -u billing-script:script-secret -d grant_type=client_credentials \
  --data-urlencode resource=api://meterbook "$TOKEN_URL" >"$TMP/cc2.json"
CC2=$(field "$TMP/cc2.json" access_token)
KID2=$(node "$TMP/verify.mjs" "$TMP/jwks2.json" "$CC2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["kid"])')
[[ "$KID2" == "$NEW_KID" ]] || fail "new token signed with $KID2, expected $NEW_KID"
node "$TMP/verify.mjs" "$TMP/jwks2.json" "$CC_TOKEN" >/dev/null || fail "old token no longer verifies"
if node "$TMP/verify.mjs" "$TMP/jwks.json" "$CC2" >/dev/null 2>&1; then fail "old JWKS should not know the new key"; fi
echo "  ok: JWKS has 2 keys [new, old]; new tokens use kid $NEW_KID; old tokens still verify"
# Rotation rebuilds the provider object; a full sign-in must still work on the new one.
login '{"scope": "openid"}' >"$TMP/login3.json" || fail "sign-in after rotation"
KID3=$(node "$TMP/verify.mjs" "$TMP/jwks2.json" "$(field "$TMP/login3.json" tokens.id_token)" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["kid"])')
[[ "$KID3" == "$NEW_KID" ]] || fail "ID token after rotation signed with $KID3"
# Without a resource the access token is an opaque one for the userinfo endpoint.
USERINFO_URL=$(field "$TMP/discovery.json" userinfo_endpoint)
"${CURL[@]}" --cacert "$CA" -H "Authorization: Bearer $(field "$TMP/login3.json" tokens.access_token)" \
  "$USERINFO_URL" >"$TMP/userinfo.json"
python3 -c '
import json, sys
u = json.load(open(sys.argv[1]))
assert u["sub"] == "terry" and u["groups"] == ["tenant-fabrikam"], u' "$TMP/userinfo.json"
echo "  ok: sign-in after rotation (ID token kid is the new one), userinfo: $(cat "$TMP/userinfo.json")"

# --- done ------------------------------------------------------------------------------------
step "stop"
kill -TERM "$IDP_PID"
wait "$IDP_PID" && rc=0 || rc=$?
IDP_PID=""
[[ $rc -eq 0 ]] || fail "IdP exited with $rc on SIGTERM"
[[ $(wc -l <"$TMP/idp.out") -eq 1 ]] || fail "IdP wrote more than the ready line to stdout"
echo "PASS: IdP checks passed"
