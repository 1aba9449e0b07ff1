"""Microsoft's own Python SDK for ARM's subscriptions API, pinned to api-version 2016-06-01, against
a demo Meterbook (`cargo xtask sdk`, part of `cargo xtask test`): the operator lists every
subscription with the names the admin API holds, a tenant lists only its own, by name, and reading
another tenant's subscription is the 404 Azure answers.

Usage: python subscriptions.py BASE_URL OPERATOR_TOKEN TENANT_TOKEN PROVIDER_SUBSCRIPTION
"""

import json
import sys
import time
import urllib.request

from azure.core.credentials import AccessToken
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.resource.subscriptions import SubscriptionClient

API_VERSION = "2016-06-01"
# Meterbook serves plain HTTP on loopback in tests; the SDK refuses bearer tokens over it unless
# told, per call.
OVER_HTTP = {"enforce_https": False}


class MeterbookToken:
    """A Meterbook API token as an Azure credential."""

    def __init__(self, token):
        self.token = token

    def get_token(self, *scopes, **kwargs):
        return AccessToken(self.token, int(time.time()) + 3600)


def client(base, token):
    return SubscriptionClient(MeterbookToken(token), base_url=base, api_version=API_VERSION)


def admin_names(base, operator, provider):
    url = (
        f"{base}/subscriptions/{provider}/providers/Microsoft.Subscriptions.Admin/subscriptions"
        "?api-version=2015-11-01"
    )
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {operator}"})
    with urllib.request.urlopen(request) as answer:
        listed = json.load(answer)
    return {s["subscriptionId"]: s["displayName"] for s in listed["value"]}


def main(base, operator, tenant, provider):
    names = admin_names(base, operator, provider)
    assert len(names) >= 2, names

    everyone = {
        s.subscription_id: s.display_name
        for s in client(base, operator).subscriptions.list(**OVER_HTTP)
    }
    assert everyone == names, (everyone, names)

    own = list(client(base, tenant).subscriptions.list(**OVER_HTTP))
    assert len(own) == 1, [s.subscription_id for s in own]
    mine = own[0]
    assert mine.display_name == names[mine.subscription_id], mine
    assert mine.state == "Enabled", mine.state
    read = client(base, tenant).subscriptions.get(mine.subscription_id, **OVER_HTTP)
    assert read.display_name == mine.display_name

    other = next(i for i in names if i != mine.subscription_id)
    try:
        client(base, tenant).subscriptions.get(other, **OVER_HTTP)
    except ResourceNotFoundError:
        pass
    else:
        raise AssertionError(f"the tenant read {other}, another tenant's subscription")

    print(
        f"azure-mgmt-resource-subscriptions ({API_VERSION}): the operator listed "
        f"{len(everyone)} named subscriptions; the tenant listed only '{mine.display_name}' "
        "and got 404 for another's"
    )


if __name__ == "__main__":
    main(*sys.argv[1:5])
