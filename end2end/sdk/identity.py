"""Microsoft's own client libraries with a token from the cloud's directory (`cargo xtask sdk`,
part of `cargo xtask test`): azure-identity's ClientSecretCredential gets a token from the test
AD FS (end2end/idp, an OpenID-certified provider) for Meterbook's audience, and
azure-mgmt-commerce pages a tenant's usage aggregates from a demo Meterbook with it, once an
operator's claim rule maps the service principal to that tenant. A token for another audience,
and one from an issuer Meterbook is not configured for, are refused with 401.

Usage: python identity.py BASE_URL OPERATOR_TOKEN ISSUER STRANGER_ISSUER
(with REQUESTS_CA_BUNDLE naming both providers' certificates)
"""

import datetime
import json
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from azure.identity import ClientSecretCredential
from azure.mgmt.commerce import UsageManagementClient

AUDIENCE = "api://meterbook"
# Meterbook serves plain HTTP on loopback in tests; the SDK refuses bearer tokens over it unless
# told, per call.
OVER_HTTP = {"enforce_https": False}


def call(base, token, method, path, body=None):
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def adfs_credential(issuer):
    # AD FS mode: the authority is the host, the "tenant" is adfs, no instance discovery.
    split = urlsplit(issuer)
    return ClientSecretCredential(
        tenant_id=split.path.strip("/"),
        client_id="billing-script",
        client_secret="script-secret",
        authority=f"{split.scheme}://{split.netloc}",
        disable_instance_discovery=True,
    )


def main(base, operator, issuer, stranger):
    credential = adfs_credential(issuer)

    # The demo's first tenant (Contoso), as the operator's overview lists it.
    status, subscriptions = call(base, operator, "GET", "/subscriptions?api-version=2016-06-01")
    assert status == 200, subscriptions
    contoso = next(s for s in subscriptions["value"] if s["displayName"] == "Contoso Ltd")
    tenant = contoso["subscriptionId"]

    status, added = call(base, operator, "POST", "/api/v1/identity/rules", {
        "issuer": "adfs", "claim": "appid", "value": "billing-script",
        "role": "tenant", "subscriptions": [tenant],
    })
    assert status == 201, added

    usage = UsageManagementClient(
        credential, tenant, base_url=base, credential_scopes=[f"{AUDIENCE}/.default"]
    )
    end = datetime.datetime.now(datetime.timezone.utc).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    start = end - datetime.timedelta(days=7)
    aggregates = list(usage.usage_aggregates.list(
        reported_start_time=start,
        reported_end_time=end,
        aggregation_granularity="Daily",
        show_details=True,
        **OVER_HTTP,
    ))
    assert aggregates, "a week of the demo tenant's usage"
    owners = {a.subscription_id for a in aggregates}
    assert owners == {tenant}, owners
    print(f"azure-mgmt-commerce read {len(aggregates)} aggregates of {contoso['displayName']} "
          "with an azure-identity token from the test AD FS")

    # The same service principal's token for another audience: 401, with ARM's envelope.
    other = credential.get_token("https://management.local.azurestack.external/.default").token
    path = (f"/subscriptions/{tenant}/providers/Microsoft.Commerce/UsageAggregates"
            f"?api-version=2015-06-01-preview&reportedStartTime={start:%Y-%m-%dT00:00:00Z}"
            f"&reportedEndTime={end:%Y-%m-%dT00:00:00Z}")
    status, refused = call(base, other, "GET", path)
    assert status == 401, (status, refused)
    assert "another audience" in refused["error"]["message"], refused
    print("a token for another audience was refused:", refused["error"]["message"])

    # A token for Meterbook's audience, but from a provider Meterbook is not configured for.
    foreign = adfs_credential(stranger).get_token(f"{AUDIENCE}/.default").token
    status, refused = call(base, foreign, "GET", path)
    assert status == 401, (status, refused)
    assert "no such issuer is configured" in refused["error"]["message"], refused
    assert refused["error"]["code"] == "InvalidAuthenticationToken", refused
    print("a token from an unconfigured issuer was refused:", refused["error"]["message"])


if __name__ == "__main__":
    main(*sys.argv[1:5])
